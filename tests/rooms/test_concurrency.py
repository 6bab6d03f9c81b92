"""Simultaneous submits with real threads and commits: one winner per cell, the daily limit holds (R-4, R-5)."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from crm.core.errors import DomainError, Invalid
from crm.extensions import db
from crm.rooms.models import RoomBooking
from crm.rooms.services import CellsRefused, apply_changes
from tests.concurrency import run_threads
from tests.factories import make_user
from tests.rooms.helpers import DAY, NOW, cell, make_room

THREADS = 20


@pytest.mark.committing
def test_twenty_simultaneous_submits_for_one_cell_make_exactly_one_booking(app, clean_database):
    with app.app_context():
        users = [make_user("staff").id for _ in range(THREADS)]
        room_id = make_room().id
        db.session.remove()
    wanted = cell(room_id, slot=15)
    results = run_threads(app, THREADS, lambda i: apply_changes(users[i], [wanted], [], NOW).booked)
    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if isinstance(r, CellsRefused)]
    assert len(winners) == 1, results
    assert len(losers) == THREADS - 1, results
    assert all(error.cells == [wanted] for error in losers)
    with app.app_context():
        rows = db.session.execute(sa.select(RoomBooking.user_id).where(RoomBooking.room_id == room_id)).all()
        db.session.remove()
    assert len(rows) == 1 and rows[0][0] in users


@pytest.mark.committing
def test_overlapping_multi_cell_submits_never_share_a_cell(app, clean_database):
    """Ten people each want three cells that overlap their neighbours': every cell ends with one holder."""
    with app.app_context():
        users = [make_user("staff").id for _ in range(10)]
        room_id = make_room().id
        db.session.remove()

    def work(i):
        # Reverse order on odd threads: the service sorts, so crossing orders cannot deadlock.
        cells = [cell(room_id, slot=11 + (i + k) % 10) for k in range(3)]
        return apply_changes(users[i], cells[::-1] if i % 2 else cells, [], NOW).booked

    results = run_threads(app, 10, work)
    assert all(isinstance(r, (list, CellsRefused)) for r in results), results
    booked = [c for r in results if isinstance(r, list) for c in r]
    assert len(booked) == len(set(booked))
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(RoomBooking))
        db.session.remove()
    assert count == len(booked) >= 3


@pytest.mark.committing
def test_daily_hour_limit_holds_under_simultaneous_submits(app, clean_database, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ROOM_DAILY_HOURS_LIMIT", 2)
    with app.app_context():
        alice = make_user("staff").id
        rooms = [make_room().id for _ in range(3)]
        db.session.remove()
    # Eight submits by one person, each for a different free cell on one day.
    work = lambda i: apply_changes(alice, [cell(rooms[i % 3], slot=11 + i)], [], NOW).booked  # noqa: E731
    results = run_threads(app, 8, work)
    assert len([r for r in results if isinstance(r, list)]) == 2, results
    assert all(isinstance(r, Invalid) for r in results if not isinstance(r, list)), results
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(RoomBooking).where(
            RoomBooking.user_id == alice, RoomBooking.booked_on == DAY))
        db.session.remove()
    assert count == 2


@pytest.mark.committing
def test_mixed_change_losing_one_cell_changes_nothing(app, clean_database):
    """Alice books two cells and cancels one while Bob takes one of hers first: nothing of Alice's changes."""
    with app.app_context():
        alice, bob = make_user("staff").id, make_user("staff").id
        room_id = make_room().id
        apply_changes(alice, [cell(room_id, slot=12)], [], NOW)
        apply_changes(bob, [cell(room_id, slot=16)], [], NOW)
        db.session.commit()
        with pytest.raises(CellsRefused) as refused:
            apply_changes(alice, [cell(room_id, slot=15), cell(room_id, slot=16)], [cell(room_id, slot=12)], NOW)
        db.session.rollback()
        assert isinstance(refused.value, DomainError) and refused.value.cells == [cell(room_id, slot=16)]
        rows = db.session.execute(sa.select(RoomBooking.slot, RoomBooking.user_id).order_by(RoomBooking.slot)).all()
        db.session.remove()
    assert [tuple(r) for r in rows] == [(12, alice), (16, bob)]


@pytest.mark.committing
def test_twenty_simultaneous_http_submits_for_one_cell(app, clean_database):
    """Through the real view: one 302, nineteen refusals (409), one booking."""
    import datetime as dt

    from crm.core import clock
    from tests.factories import login

    with app.app_context():
        users = [make_user("staff") for _ in range(THREADS)]
        room_id = make_room().id
        day = clock.today() + dt.timedelta(days=5)
        clients = []
        for user in users:
            client = app.test_client()
            assert login(client, user).status_code == 302
            clients.append(client)
        db.session.remove()
    key = f"{room_id}:{day.isoformat()}:15"
    barrier = threading.Barrier(THREADS)
    statuses: list = [None] * THREADS

    def post(i):
        barrier.wait()
        response = clients[i].post("/rooms/changes", data={"origin": "day", "date": day.isoformat(), "book": key})
        statuses[i] = response.status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(statuses) == [302] + [409] * (THREADS - 1), statuses
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomBooking)) == 1
        db.session.remove()
