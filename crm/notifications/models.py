"""Outgoing e-mail log: every message with its status (S-21)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.clock import utcnow
from crm.extensions import db


class Notification(db.Model):
    """One e-mail message and its delivery state, kept here and not in the broker (S-21).

    queued: waiting; due at `next_attempt_at` (the sweeper re-queues every due row).
    sending: claimed by a worker that is talking to SMTP; `next_attempt_at` is the end of its lease.
    sent / failed: final. unknown: the worker was lost between SMTP and recording the outcome, so the
    message may or may not have arrived; it is never re-sent on its own (an admin decides).
    """

    __tablename__ = "notifications"

    STATUSES = ("queued", "sending", "sent", "failed", "unknown")

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)  # lead_assigned, import_summary, ...
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    # The Message-ID header, fixed at the first attempt and reused by every later one.
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    # Makes "one summary per consultant per import/run" a database rule.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.CheckConstraint("status in ('queued', 'sending', 'sent', 'failed', 'unknown')", name="status"),
    )
