"""Meeting rooms, their hourly bookings and each user's calendar-feed key (R-1, R-4, R-5)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db


class Room(db.Model):
    """A bookable meeting room (R-1); inactive rooms keep their bookings but take no new ones."""

    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    capacity: Mapped[int] = mapped_column(default=8)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (sa.CheckConstraint("capacity >= 1", name="capacity_positive"),)

    def __str__(self) -> str:
        return self.name


class RoomBooking(db.Model):
    """One hour of one room on one date, held by one user.

    `slot` is the local start hour (CRM_ROOM_FIRST_HOUR..CRM_ROOM_LAST_HOUR). The unique
    constraint on (room, date, slot) is what makes double booking impossible (R-4).
    """

    __tablename__ = "room_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id", ondelete="RESTRICT"))
    booked_on: Mapped[dt.date]
    slot: Mapped[int] = mapped_column(sa.SmallInteger)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    room: Mapped[Room] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("room_id", "booked_on", "slot"),
        sa.CheckConstraint("slot >= 0 AND slot <= 23", name="slot_hour"),
        # The day grid reads one date across rooms; My bookings and the feed read one user's dates.
        sa.Index("ix_room_bookings_booked_on", "booked_on"),
        sa.Index("ix_room_bookings_user_date", "user_id", "booked_on"),
    )


class RoomFeedKey(db.Model):
    """The per-user key behind the secret iCalendar URL; a new key makes the old URL 404 (R-5)."""

    __tablename__ = "room_feed_keys"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
