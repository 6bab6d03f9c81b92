"""The iCalendar feed of one's bookings at a secret URL (R-5).

The URL carries the user id and a token: an HMAC (the app's SECRET_KEY) of a random
per-user key stored in ``room_feed_keys``. Neither a copy of the database nor the key
alone gives the URL; regenerating replaces the key, so the old URL answers 404.
Calendar apps cannot sign in, so the feed endpoint is public and checks the token itself.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

import icalendar
import sqlalchemy as sa
from flask import current_app

from crm.auth.models import User
from crm.core import clock
from crm.core.clock import utcnow
from crm.extensions import conflict_insert, db
from crm.rooms.cells import Cell
from crm.rooms.models import Room, RoomBooking, RoomFeedKey

FEED_PAST_DAYS = 90
FEED_MAX_EVENTS = 2000


def _token(user_id: int, key: str) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"rooms-feed:{user_id}:{key}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def feed_token(user_id: int) -> str:
    """The user's current feed token, creating their key on first use (safe when two requests race). Flushes."""
    db.session.execute(
        conflict_insert(RoomFeedKey.__table__)
        .values(user_id=user_id, key=secrets.token_hex(32), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    key = db.session.scalar(sa.select(RoomFeedKey.key).where(RoomFeedKey.user_id == user_id))
    return _token(user_id, key)


def regenerate_feed_key(user_id: int) -> str:
    """A new key for the user's feed (the old URL stops working); returns the new token. Flushes."""
    feed_token(user_id)
    db.session.execute(
        sa.update(RoomFeedKey).where(RoomFeedKey.user_id == user_id)
        .values(key=secrets.token_hex(32), created_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return feed_token(user_id)


def feed_owner(user_id: int, token: str) -> User | None:
    """The active user this (id, token) pair belongs to, or None."""
    if not token or len(token) > 100:
        return None
    row = db.session.execute(
        sa.select(User, RoomFeedKey.key).join(RoomFeedKey, RoomFeedKey.user_id == User.id)
        .where(User.id == user_id, User.active.is_(True))
    ).first()
    if row is None or not hmac.compare_digest(_token(user_id, row.key), token):
        return None
    return row.User


def build_feed(user: User, today: dt.date) -> bytes:
    """The user's bookings from FEED_PAST_DAYS ago on, as an iCalendar document in CRM_TIMEZONE."""
    zone = clock.local_zone()
    rows = db.session.execute(
        sa.select(RoomBooking.id, RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot,
                  RoomBooking.created_at, Room.name)
        .join(Room, Room.id == RoomBooking.room_id)
        .where(RoomBooking.user_id == user.id, RoomBooking.booked_on >= today - dt.timedelta(days=FEED_PAST_DAYS))
        .order_by(RoomBooking.booked_on, RoomBooking.slot)
        .limit(FEED_MAX_EVENTS)
    )
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Campus CRM//Meeting rooms//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{user.name} · rooms")
    calendar.add("x-wr-timezone", str(zone.key))
    stamp = utcnow()
    for booking_id, room_id, day, slot, created_at, room_name in rows:
        start = Cell(room_id, day, slot).starts_at(zone)
        event = icalendar.Event()
        event.add("uid", f"room-booking-{booking_id}@campus-crm")
        event.add("dtstamp", stamp)
        event.add("created", clock.to_local(created_at))
        event.add("dtstart", start)
        event.add("dtend", start + dt.timedelta(hours=1))
        event.add("summary", room_name)
        event.add("location", room_name)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
