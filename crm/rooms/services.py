"""Booking changes: one submit is one transaction, all or nothing (R-3, R-4, R-5, R-6).

Invariants, and where each one lives:

* **No double booking** (R-4). The unique constraint on (room, date, slot) decides, never a
  read-then-write in Python. Adds are one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per
  chunk; a requested cell that does not come back was taken by someone else (committed, or
  committed while we waited on its row), so the whole change is refused with those cells
  named and the caller rolls back. With twenty simultaneous submits for one cell, PostgreSQL
  makes nineteen wait on the first insert and then skip the row: exactly one booking.
* **No deadlock between overlapping submits.** Cells are inserted in one global order
  (room, date, slot), so two submits that want the same cells queue on the first shared
  cell instead of each holding one the other needs.
* **Only future slots; only one's own bookings.** Every cell is checked against `now`
  before anything is written; the cancelling ``DELETE`` matches ``user_id = actor`` and
  a cell it did not delete refuses the whole change.
* **Per-user daily hour limit** (R-5, optional). We lock the actor's ``users`` row (a no-op
  ``UPDATE``, as the daily grab limit in ``crm.sales.pool.services`` does) as the change's first
  statement, before anything is read or inserted, then
  count the actor's bookings on the touched dates *after* inserting. Two submits by one
  person therefore run one after the other: on PostgreSQL the second waits for the row
  lock, and its count, a new statement under READ COMMITTED, sees the first one's
  committed rows; on SQLite the ``UPDATE`` takes the database write lock, which serialises
  all writers anyway. We chose the row lock over a per-(user, date) counter row because a
  repeat booking touches many dates and cancellations would have to keep counters in step:
  with the lock, the bookings table stays the only record of who holds what, and submits of
  *different* people never wait for each other.
* **Repeat bookings** (R-6): the same cells weekly for N weeks (N ≤ CRM_ROOM_REPEAT_MAX_WEEKS).
  :func:`repeat_conflicts` lists the taken occurrences before saving; the user then books
  none, or only the free ones (``skip_taken``: occurrences taken at save time are skipped
  and reported instead of refusing the change).

Services take ids, cells and `now` (an aware local datetime); they flush and never commit.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.auth.models import User
from crm.core import audit
from crm.core.clock import utcnow
from crm.core.errors import Conflict, Invalid
from crm.extensions import conflict_insert, db
from crm.rooms.cells import (
    Cell,
    cell_label,
    daily_hours_limit,
    horizon_days,
    is_past,
    max_repeat_weeks,
    slot_hours,
)
from crm.rooms.models import Room, RoomBooking

# One submit may name at most this many cells (a full week of one room is 7 × 13 = 91).
MAX_CELLS = 400
# Rows per INSERT statement (SQLite caps bound parameters per statement).
INSERT_CHUNK = 500


class CellsRefused(Conflict):
    """The change touched cells it may not: `cells` are named in the message."""

    def __init__(self, message: str, cells: list[Cell]):
        super().__init__(message)
        self.cells = cells


@dataclass
class ChangeResult:
    """What a submit did."""

    booked: list[Cell] = field(default_factory=list)
    cancelled: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)  # taken occurrences left out (repeat, skip_taken)


# -- checks ------------------------------------------------------------------------------------
def room_names(room_ids) -> dict[int, str]:
    """Names of these rooms (active or not), in one query."""
    ids = sorted(set(room_ids))
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Room.id, Room.name).where(Room.id.in_(ids))).all())


def _labels(cells: list[Cell], names: dict[int, str]) -> str:
    return "; ".join(cell_label(cell, names) for cell in sorted(cells))


def _check_cells(cells: list[Cell], now: dt.datetime, *, for_booking: bool, field_name: str) -> dict[int, str]:
    """Slots in range, dates in range and not past, rooms that exist (active for bookings)."""
    hours = set(slot_hours())
    bad_slots = sorted({cell.slot for cell in cells if cell.slot not in hours})
    if bad_slots:
        raise Invalid(_("These hours are not bookable slots: %(hours)s.", hours=", ".join(map(str, bad_slots))),
                      field=field_name)
    today = now.date()
    furthest = today + dt.timedelta(days=horizon_days())
    if any(cell.day > furthest for cell in cells):
        raise Invalid(_("Rooms can be booked at most %(n)d days ahead.", n=horizon_days()), field=field_name)
    query = sa.select(Room.id, Room.name, Room.active).where(Room.id.in_(sorted({c.room_id for c in cells})))
    rooms = {row.id: row for row in db.session.execute(query)}
    unknown = sorted({c.room_id for c in cells
                      if c.room_id not in rooms or (for_booking and not rooms[c.room_id].active)})
    if unknown:
        raise Invalid(_("This room does not exist or takes no bookings."), field=field_name)
    names = {room_id: row.name for room_id, row in rooms.items()}
    past = [cell for cell in cells if is_past(cell, now)]
    if past:
        labels = _labels(past, names)
        message = (_("These slots have already started and cannot be booked: %(cells)s.", cells=labels)
                   if for_booking else
                   _("These slots have already started and cannot be cancelled: %(cells)s.", cells=labels))
        raise CellsRefused(message, past)
    return names


def occurrences(cells: list[Cell], weeks: int) -> list[Cell]:
    """Each cell weekly for `weeks` weeks (the first week included), in insert order."""
    return sorted({cell.in_weeks(k) for cell in cells for k in range(weeks)})


def _check_weeks(weeks: int) -> None:
    limit = max_repeat_weeks()
    if not 1 <= weeks <= limit:
        raise Invalid(_("Repeat for 1 to %(n)d weeks.", n=limit), field="repeat_weeks")


def holders(cells: list[Cell]) -> dict[Cell, tuple[int, str]]:
    """Who holds each of these cells that is booked: cell → (user id, name). Two queries at most."""
    if not cells:
        return {}
    wanted = set(cells)
    query = (
        sa.select(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot, RoomBooking.user_id, User.name)
        .join(User, User.id == RoomBooking.user_id)
        .where(RoomBooking.room_id.in_(sorted({c.room_id for c in wanted})),
               RoomBooking.booked_on.in_(sorted({c.day for c in wanted})))
    )
    found = {}
    for room_id, day, slot, user_id, name in db.session.execute(query):
        cell = Cell(room_id, day, slot)
        if cell in wanted:
            found[cell] = (user_id, name)
    return found


# -- the change --------------------------------------------------------------------------------
def _lock_user(user_id: int) -> None:
    """Serialise this user's submits until commit (see the module docstring)."""
    db.session.execute(sa.update(User).where(User.id == user_id).values(id=User.id),
                       execution_options={"synchronize_session": False})


def _insert(actor_id: int, cells: list[Cell]) -> set[Cell]:
    """Insert the cells that are free; returns those inserted (the unique constraint decides)."""
    created = utcnow()
    inserted: set[Cell] = set()
    for start in range(0, len(cells), INSERT_CHUNK):
        chunk = cells[start:start + INSERT_CHUNK]
        stmt = (
            conflict_insert(RoomBooking.__table__)
            .values([{"room_id": c.room_id, "booked_on": c.day, "slot": c.slot, "user_id": actor_id,
                      "created_at": created} for c in chunk])
            .on_conflict_do_nothing(index_elements=["room_id", "booked_on", "slot"])
            .returning(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot)
        )
        inserted.update(Cell(*row) for row in db.session.execute(stmt))
    return inserted


def _cancel(actor_id: int, cells: list[Cell]) -> set[Cell]:
    """Delete the actor's own bookings of these cells; returns those deleted."""
    stmt = (
        sa.delete(RoomBooking)
        .where(RoomBooking.user_id == actor_id,
               sa.tuple_(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot).in_(
                   [(c.room_id, c.day, c.slot) for c in cells]))
        .returning(RoomBooking.room_id, RoomBooking.booked_on, RoomBooking.slot)
    )
    return {Cell(*row) for row in db.session.execute(stmt, execution_options={"synchronize_session": False})}


def _check_daily_limit(actor_id: int, days: set[dt.date]) -> None:
    limit = daily_hours_limit()
    if not limit or not days:
        return
    over = db.session.execute(
        sa.select(RoomBooking.booked_on, sa.func.count())
        .where(RoomBooking.user_id == actor_id, RoomBooking.booked_on.in_(sorted(days)))
        .group_by(RoomBooking.booked_on)
        .having(sa.func.count() > limit)
        .order_by(RoomBooking.booked_on)
    ).first()
    if over is not None:
        raise Invalid(_("You may hold at most %(n)d room hours a day; %(date)s would have %(m)d.",
                        n=limit, date=over[0].isoformat(), m=over[1]), field="book")


def apply_changes(actor_id: int, book: list[Cell], cancel: list[Cell], now: dt.datetime, *,
                  repeat_weeks: int = 1, skip_taken: bool = False) -> ChangeResult:
    """Book `book` (weekly for `repeat_weeks` weeks) and cancel `cancel`, all or nothing. Flushes.

    Raises Invalid (bad input, daily limit), CellsRefused (taken cells, past slots, bookings
    that are not the actor's); the caller rolls back on any of them.
    """
    # First statement of the change: the actor's row lock (the daily limit needs it; on SQLite a
    # write first takes the database write lock at once instead of failing to upgrade a read lock).
    _lock_user(actor_id)
    book, cancel = sorted(set(book)), sorted(set(cancel))
    if not book and not cancel:
        raise Invalid(_("Select free cells to book or your own bookings to cancel."), field="book")
    _check_weeks(repeat_weeks)
    wanted = occurrences(book, repeat_weeks)
    if len(wanted) + len(cancel) > MAX_CELLS:
        raise Invalid(_("Too many cells in one change (at most %(n)d).", n=MAX_CELLS), field="book")
    overlap = set(wanted) & set(cancel)
    if overlap:
        raise Invalid(_("A cell cannot be booked and cancelled at once."), field="book")
    names = _check_cells(cancel, now, for_booking=False, field_name="cancel") if cancel else {}
    if wanted:
        names.update(_check_cells(wanted, now, for_booking=True, field_name="book"))

    result = ChangeResult()
    if cancel:
        cancelled = _cancel(actor_id, cancel)
        missing = [cell for cell in cancel if cell not in cancelled]
        if missing:
            others = [cell for cell, (user_id, _name) in holders(missing).items() if user_id != actor_id]
            if others:
                raise CellsRefused(_("You can only cancel your own bookings: %(cells)s.",
                                     cells=_labels(others, names)), others)
            raise CellsRefused(_("These bookings no longer exist: %(cells)s.", cells=_labels(missing, names)),
                               missing)
        result.cancelled = cancel
    if wanted:
        inserted = _insert(actor_id, wanted)
        taken = [cell for cell in wanted if cell not in inserted]
        if taken and not (skip_taken and repeat_weeks > 1):
            raise CellsRefused(_("Nothing was saved: these cells were taken meanwhile: %(cells)s.",
                                 cells=_labels(taken, names)), taken)
        result.booked = [cell for cell in wanted if cell in inserted]
        result.skipped = taken
        _check_daily_limit(actor_id, {cell.day for cell in result.booked})
    _audit(actor_id, result)
    db.session.flush()
    return result


def _audit(actor_id: int, result: ChangeResult) -> None:
    """One audit entry per room and action: the cells booked or cancelled (P-6)."""
    for action, cells in (("room.book", result.booked), ("room.cancel", result.cancelled)):
        by_room: dict[int, list[str]] = defaultdict(list)
        for cell in cells:
            by_room[cell.room_id].append(f"{cell.day.isoformat()} {cell.slot:02d}:00")
        for room_id, labels in sorted(by_room.items()):
            audit.record(actor_id, action, "room", room_id, cells=labels)


def repeat_conflicts(book: list[Cell], weeks: int, now: dt.datetime) -> tuple[list[Cell], dict[Cell, str]]:
    """Before saving a repeat: every occurrence and the taken ones with their holder's name (R-6)."""
    _check_weeks(weeks)
    wanted = occurrences(sorted(set(book)), weeks)
    if len(wanted) > MAX_CELLS:
        raise Invalid(_("Too many cells in one change (at most %(n)d).", n=MAX_CELLS), field="book")
    if wanted:
        _check_cells(wanted, now, for_booking=True, field_name="book")
    return wanted, {cell: name for cell, (_user_id, name) in holders(wanted).items()}
