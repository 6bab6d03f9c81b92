"""API tokens and idempotency records of the web-to-lead API (S-10)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db


class ApiToken(db.Model):
    """A bearer token for the school's website; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(sa.String(8))  # first characters, to tell tokens apart
    active: Mapped[bool] = mapped_column(default=True)
    rate_per_minute: Mapped[int] = mapped_column(default=60)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.CheckConstraint("rate_per_minute >= 1", name="rate_positive"),)


class IdempotencyRecord(db.Model):
    """The stored answer to a request with an Idempotency-Key, replayed on retries."""

    __tablename__ = "api_idempotency"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(128))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("token_id", "key"),)
