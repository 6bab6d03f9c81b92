"""Audit log: who did what, when (P-6)."""
from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.clock import utcnow
from crm.extensions import db


class AuditLog(db.Model):
    """One audited action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[str] = mapped_column(sa.Text, default="{}")

    actor = db.relationship("User", lazy="joined")

    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id"),)

    @property
    def detail_dict(self) -> dict[str, Any]:
        """The detail payload decoded."""
        try:
            return json.loads(self.detail or "{}")
        except ValueError:
            return {}


def record(actor_id: int | None, action: str, object_type: str, object_id: Any = None, **detail: Any) -> None:
    """Write an audit row in the current transaction (the caller commits).

    One INSERT built once, executed at once: no ORM object to track and flush. What the session
    holds pending is flushed before it, as before any statement.
    """
    db.session.execute(_insert_statement(), {
        "at": utcnow(), "actor_id": actor_id, "action": action, "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "detail": json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True),
    })


@functools.cache
def _insert_statement() -> sa.Insert:
    return sa.insert(AuditLog.__table__).inline()  # inline: no RETURNING of the new id, which nobody reads
