"""What the booking pages show: the day grid, one room's week and one's own bookings (R-2, R-5, R-6).

Each page loads in a fixed number of queries whatever the number of rooms:
the rooms, then the bookings of the period joined with their holders' names.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.rooms.cells import Cell, is_past, slot_hours
from crm.rooms.models import Room, RoomBooking

FREE, MINE, TAKEN = "free", "mine", "taken"


@dataclass(frozen=True)
class GridCell:
    """One cell as shown: free / mine / taken (holder's name), and whether it has started.

    `key`, `css` and `shown` are worked out once here: a 50-room grid has 650 cells and the
    template should only print them.
    """

    cell: Cell
    state: str
    past: bool
    holder: str | None = None
    key: str = ""
    css: str = ""
    shown: str = ""  # data-state: free / mine / taken / past (a free cell that has started)
    selectable: bool = False  # a free future cell can be booked; a future cell of one's own cancelled


def _grid_cell(cell: Cell, state: str, past: bool, holder: str | None = None) -> GridCell:
    css = f"room-cell room-{state} room-past" if past else f"room-cell room-{state}"
    shown = "past" if past and state == FREE else state
    return GridCell(cell, state, past, holder, cell.key, css, shown, not past and state in (FREE, MINE))


@dataclass
class Grid:
    """Rows are slots; columns are rooms (day grid) or dates (week view)."""

    slots: list[int]
    columns: list[object]
    cells: dict[tuple[object, int], GridCell]

    def at(self, column: object, slot: int) -> GridCell:
        """The cell in this column and row."""
        return self.cells[(column, slot)]


def _state(cell: Cell, bookings: dict[Cell, tuple[int, str]], user_id: int, now: dt.datetime) -> GridCell:
    holder = bookings.get(cell)
    if holder is None:
        return _grid_cell(cell, FREE, is_past(cell, now))
    state = MINE if holder[0] == user_id else TAKEN
    return _grid_cell(cell, state, is_past(cell, now), holder[1])


def _bookings(where) -> dict[Cell, tuple[int, str]]:
    rows = db.session.execute(
        sa.select(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot, RoomBooking.user_id, User.name)
        .join(User, User.id == RoomBooking.user_id)
        .where(*where)
    )
    return {Cell(room_id, day, slot): (holder_id, name) for room_id, day, slot, holder_id, name in rows}


def active_rooms() -> list[Room]:
    """Rooms that take bookings, by name."""
    return list(db.session.scalars(sa.select(Room).where(Room.active.is_(True)).order_by(Room.name, Room.id)))


def day_grid(user_id: int, day: dt.date, now: dt.datetime) -> tuple[list[Room], Grid]:
    """Every active room × every slot of `day` (two queries)."""
    rooms = active_rooms()
    bookings = _bookings([RoomBooking.booked_on == day]) if rooms else {}
    slots = slot_hours()
    cells = {(room.id, slot): _state(Cell(room.id, day, slot), bookings, user_id, now)
             for room in rooms for slot in slots}
    return rooms, Grid(slots=slots, columns=[room.id for room in rooms], cells=cells)


def week_start(day: dt.date) -> dt.date:
    """The Monday of the week containing `day`."""
    return day - dt.timedelta(days=day.weekday())


def week_grid(user_id: int, room: Room, start: dt.date, now: dt.datetime) -> Grid:
    """One room, seven days from `start` × every slot (one query)."""
    days = [start + dt.timedelta(days=offset) for offset in range(7)]
    bookings = _bookings([RoomBooking.room_id == room.id, RoomBooking.booked_on.between(days[0], days[-1])])
    slots = slot_hours()
    cells = {(day, slot): _state(Cell(room.id, day, slot), bookings, user_id, now) for day in days for slot in slots}
    return Grid(slots=slots, columns=days, cells=cells)


@dataclass(frozen=True)
class MyBooking:
    """A row of My bookings."""

    cell: Cell
    room_name: str
    past: bool


def my_bookings(user_id: int, now: dt.datetime, *, past_days: int = 90,
                limit: int = 500) -> tuple[list[MyBooking], list[MyBooking]]:
    """One's upcoming bookings (soonest first) and past ones of the last `past_days` days (latest first)."""
    since = now.date() - dt.timedelta(days=past_days)
    rows = db.session.execute(
        sa.select(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot, Room.name)
        .join(Room, Room.id == RoomBooking.room_id)
        .where(RoomBooking.user_id == user_id, RoomBooking.booked_on >= since)
        .order_by(RoomBooking.booked_on, RoomBooking.slot, Room.name)
        .limit(limit)
    )
    upcoming, past = [], []
    for room_id, day, slot, name in rows:
        cell = Cell(room_id, day, slot)
        item = MyBooking(cell, name, is_past(cell, now))
        (past if item.past else upcoming).append(item)
    past.reverse()
    return upcoming, past
