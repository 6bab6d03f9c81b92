"""Rooms test helpers: rooms, cells and a fixed "now" far in the future (so every default slot is bookable)."""
from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext

from crm.extensions import db
from crm.rooms.cells import Cell
from crm.rooms.models import Room, RoomBooking

ZONE = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2030, 3, 4)  # a Monday
NOW = dt.datetime(2030, 3, 4, 10, 30, tzinfo=ZONE)  # slots from 11:00 on are future, 08–10 have started
_seq = itertools.count(1)


def make_room(name: str | None = None, capacity: int = 8, active: bool = True) -> Room:
    """A meeting room."""
    room = Room(name=name or f"Room {next(_seq)}", capacity=capacity, active=active)
    db.session.add(room)
    db.session.commit()
    return room


def cell(room, day: dt.date = DAY, slot: int = 14) -> Cell:
    """A cell of a room (object or id)."""
    return Cell(room if isinstance(room, int) else room.id, day, slot)


def book_directly(user, room, day: dt.date = DAY, slot: int = 14) -> RoomBooking:
    """A booking written straight to the table (set-up only)."""
    row = RoomBooking(room_id=room.id, booked_on=day, slot=slot, user_id=user.id)
    db.session.add(row)
    db.session.commit()
    return row


def bookings(room=None) -> list[tuple[int, dt.date, int, int]]:
    """Every booking (of a room) as (room_id, date, slot, user_id), sorted."""
    query = sa.select(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot, RoomBooking.user_id)
    if room is not None:
        query = query.where(RoomBooking.room_id == room.id)
    return sorted(tuple(row) for row in db.session.execute(query))


def msg(text: str, **kw) -> str:
    """The message as the app shows it (the test app's default locale)."""
    return gettext(text, **kw)
