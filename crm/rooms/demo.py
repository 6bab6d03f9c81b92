"""Rooms demo data for `flask crm seed-demo` (P-8): four rooms and bookings around today."""
from __future__ import annotations

import datetime as dt

from crm.core import clock
from crm.core.areas import DemoContext
from crm.extensions import db
from crm.rooms.cells import Cell, is_past, slot_hours
from crm.rooms.models import Room, RoomBooking

DEMO_ROOMS = [("301 会议室", 8), ("302 会议室", 12), ("大教室 A", 40), ("洽谈室", 4)]

# (room index, days from today, start hour, hours, user name)
DEMO_BOOKINGS = [
    (0, 0, 10, 2, "director"), (1, 0, 14, 1, "sales1"), (3, 0, 16, 2, "sales2"), (2, 0, 19, 1, "tutor1"),
    (0, 1, 9, 1, "sales1"), (1, 1, 10, 2, "tutor1"), (2, 1, 14, 3, "teacher1"), (3, 1, 15, 1, "staff1"),
    (0, 2, 13, 2, "director"), (2, 2, 9, 2, "teacher2"), (3, 2, 11, 1, "sales3"),
    (1, 3, 15, 2, "tutor2"), (0, 4, 10, 1, "staff1"), (2, 5, 9, 4, "teacher1"),
    (0, -1, 10, 2, "sales1"), (1, -2, 14, 1, "staff1"),
]


def seed_rooms_demo(context: DemoContext) -> None:
    """Add the demo rooms and their bookings (today's started slots are left free)."""
    rooms = [Room(name=name, capacity=capacity) for name, capacity in DEMO_ROOMS]
    db.session.add_all(rooms)
    db.session.flush()
    now = clock.now()
    hours = set(slot_hours())
    for room_index, offset, start, length, username in DEMO_BOOKINGS:
        user = context.users.get(username)
        if user is None:
            continue
        day = context.today + dt.timedelta(days=offset)
        for slot in range(start, start + length):
            cell = Cell(rooms[room_index].id, day, slot)
            if slot not in hours or (offset == 0 and is_past(cell, now)):
                continue
            db.session.add(RoomBooking(room_id=cell.room_id, booked_on=day, slot=slot, user_id=user.id))
    db.session.flush()
