"""Booking changes: all or nothing, future slots only, own bookings only, repeats, the daily limit (R-3 … R-6)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Invalid
from crm.extensions import db
from crm.rooms.cells import Cell, parse_cell
from crm.rooms.services import CellsRefused, apply_changes, repeat_conflicts
from tests.factories import make_user
from tests.rooms.helpers import DAY, NOW, book_directly, bookings, cell, make_room


def test_book_and_cancel_in_one_change():
    alice = make_user("staff")
    room = make_room()
    book_directly(alice, room, slot=12)
    result = apply_changes(alice.id, [cell(room, slot=14), cell(room, slot=15)], [cell(room, slot=12)], NOW)
    db.session.commit()
    assert [c.slot for c in result.booked] == [14, 15]
    assert [c.slot for c in result.cancelled] == [12]
    assert bookings(room) == [(room.id, DAY, 14, alice.id), (room.id, DAY, 15, alice.id)]
    actions = db.session.execute(sa.select(AuditLog.action, AuditLog.object_id, AuditLog.detail)
                                 .where(AuditLog.actor_id == alice.id).order_by(AuditLog.id)).all()
    assert [(a, o) for a, o, _d in actions] == [("room.book", str(room.id)), ("room.cancel", str(room.id))]
    assert "2030-03-04 14:00" in actions[0][2]


def test_a_taken_cell_refuses_the_whole_change_and_names_it():
    alice, bob = make_user("staff"), make_user("staff")
    room = make_room("Room Blue")
    book_directly(bob, room, slot=15)
    book_directly(alice, room, slot=12)
    with pytest.raises(CellsRefused) as refused:
        apply_changes(alice.id, [cell(room, slot=14), cell(room, slot=15)], [cell(room, slot=12)], NOW)
    db.session.rollback()
    assert refused.value.cells == [cell(room, slot=15)]
    assert "Room Blue 2030-03-04 15:00–16:00" in refused.value.message
    # Nothing changed: alice's 12:00 is still hers, 14:00 is still free.
    assert bookings(room) == [(room.id, DAY, 12, alice.id), (room.id, DAY, 15, bob.id)]


def test_started_slots_cannot_be_booked_or_cancelled():
    alice = make_user("staff")
    room = make_room()
    book_directly(alice, room, slot=9)
    with pytest.raises(CellsRefused, match="10:00–11:00"):
        apply_changes(alice.id, [cell(room, slot=10)], [], NOW)  # 10:00 started at 10:00; now is 10:30
    db.session.rollback()
    with pytest.raises(CellsRefused, match="09:00–10:00"):
        apply_changes(alice.id, [], [cell(room, slot=9)], NOW)
    db.session.rollback()
    with pytest.raises(CellsRefused):
        apply_changes(alice.id, [cell(room, day=DAY - dt.timedelta(days=1), slot=15)], [], NOW)
    db.session.rollback()
    apply_changes(alice.id, [cell(room, slot=11)], [], NOW)  # the next slot is fine
    db.session.commit()
    assert (room.id, DAY, 9, alice.id) in bookings(room)


def test_cancelling_someone_elses_booking_is_refused():
    alice, bob = make_user("staff"), make_user("staff")
    room = make_room()
    book_directly(bob, room, slot=14)
    with pytest.raises(CellsRefused) as refused:
        apply_changes(alice.id, [cell(room, slot=16)], [cell(room, slot=14)], NOW)
    db.session.rollback()
    assert refused.value.status_code == 409
    assert refused.value.cells == [cell(room, slot=14)]
    assert bookings(room) == [(room.id, DAY, 14, bob.id)]


def test_cancelling_a_booking_that_is_gone_is_refused():
    alice = make_user("staff")
    room = make_room()
    with pytest.raises(CellsRefused):
        apply_changes(alice.id, [], [cell(room, slot=14)], NOW)


@pytest.mark.parametrize("slot", [7, 21, 23, 0])
def test_slots_out_of_range_are_refused(slot):
    alice = make_user("staff")
    room = make_room()
    with pytest.raises(Invalid) as refused:
        apply_changes(alice.id, [cell(room, slot=slot)], [], NOW)
    assert refused.value.field == "book"
    assert str(slot) in refused.value.message


def test_unknown_and_inactive_rooms_are_refused():
    alice = make_user("staff")
    closed = make_room(active=False)
    for room_id in (closed.id, 2**31 - 1):
        with pytest.raises(Invalid) as refused:
            apply_changes(alice.id, [Cell(room_id, DAY, 14)], [], NOW)
        assert refused.value.field == "book"
    assert bookings() == []


def test_empty_change_and_book_plus_cancel_of_one_cell_are_refused():
    alice = make_user("staff")
    room = make_room()
    with pytest.raises(Invalid):
        apply_changes(alice.id, [], [], NOW)
    with pytest.raises(Invalid):
        apply_changes(alice.id, [cell(room)], [cell(room)], NOW)


def test_dates_beyond_the_horizon_are_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ROOM_HORIZON_DAYS", 30)
    alice = make_user("staff")
    room = make_room()
    with pytest.raises(Invalid, match="30"):
        apply_changes(alice.id, [cell(room, day=DAY + dt.timedelta(days=31))], [], NOW)
    apply_changes(alice.id, [cell(room, day=DAY + dt.timedelta(days=30))], [], NOW)


def test_repeat_books_the_same_cells_weekly():
    alice = make_user("staff")
    room = make_room()
    result = apply_changes(alice.id, [cell(room, slot=14), cell(room, slot=15)], [], NOW, repeat_weeks=3)
    db.session.commit()
    assert len(result.booked) == 6
    assert {row[1] for row in bookings(room)} == {DAY, DAY + dt.timedelta(weeks=1), DAY + dt.timedelta(weeks=2)}


def test_repeat_past_the_limit_is_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ROOM_REPEAT_MAX_WEEKS", 4)
    alice = make_user("staff")
    room = make_room()
    for weeks in (5, 0, -1):
        with pytest.raises(Invalid) as refused:
            apply_changes(alice.id, [cell(room)], [], NOW, repeat_weeks=weeks)
        assert refused.value.field == "repeat_weeks"
        assert "4" in refused.value.message
    assert bookings() == []


def test_repeat_conflicts_are_listed_then_only_the_free_ones_booked():
    alice, bob = make_user("staff"), make_user("staff", name="Bob Builder")
    room = make_room()
    taken = cell(room, day=DAY + dt.timedelta(weeks=1))
    book_directly(bob, room, day=taken.day, slot=taken.slot)
    wanted, conflicts = repeat_conflicts([cell(room)], 3, NOW)
    assert len(wanted) == 3
    assert conflicts == {taken: "Bob Builder"}
    with pytest.raises(CellsRefused):  # "book all" is all or nothing
        apply_changes(alice.id, [cell(room)], [], NOW, repeat_weeks=3)
    db.session.rollback()
    result = apply_changes(alice.id, [cell(room)], [], NOW, repeat_weeks=3, skip_taken=True)
    db.session.commit()
    assert result.skipped == [taken]
    assert len(result.booked) == 2
    assert sorted(r[3] for r in bookings(room)) == sorted([alice.id, alice.id, bob.id])


def test_daily_hour_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ROOM_DAILY_HOURS_LIMIT", 2)
    alice = make_user("staff")
    rooms = [make_room(), make_room()]
    apply_changes(alice.id, [cell(rooms[0], slot=14)], [], NOW)
    db.session.commit()
    with pytest.raises(Invalid, match=re.escape("2030-03-04")):
        apply_changes(alice.id, [cell(rooms[1], slot=15), cell(rooms[1], slot=16)], [], NOW)
    db.session.rollback()
    apply_changes(alice.id, [cell(rooms[1], slot=15)], [], NOW)  # the second hour is fine
    apply_changes(alice.id, [cell(rooms[1], day=DAY + dt.timedelta(days=1), slot=15)], [], NOW)  # another day
    db.session.commit()
    # Cancelling one hour makes room for another in the same change.
    apply_changes(alice.id, [cell(rooms[1], slot=18)], [cell(rooms[0], slot=14)], NOW)
    db.session.commit()
    assert len(bookings()) == 3


@pytest.mark.parametrize("raw", [
    "", "1", "1:2030-03-04", "a:2030-03-04:14", "1:2030-13-01:14", "1:20300304:14", "0:2030-03-04:14",
    f"{2**31}:2030-03-04:14", "1:2030-03-04:-1", "1:2030-03-04:140", "1:2030-03-04:1\x00", "１:2030-03-04:14",
    "<script>:2030-03-04:14", "9" * 100, None, "1:2030-03-04:14:5",
])
def test_parse_cell_refuses_ugly_values(raw):
    assert parse_cell(raw) is None


def test_parse_cell_reads_a_key():
    assert parse_cell("7:2030-03-04:09") == Cell(7, DAY, 9)
    assert Cell(7, DAY, 9).key == "7:2030-03-04:9"
