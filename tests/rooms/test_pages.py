"""The rooms pages through HTTP: grid states, the plain-form submit, refusals, repeats, week view (R-2 … R-6)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.rooms.models import RoomBooking
from tests.factories import login, make_user
from tests.rooms.helpers import book_directly, bookings, cell, make_room


@pytest.fixture
def day():
    """A date a week ahead: every slot of it is in the future."""
    return clock.today() + dt.timedelta(days=7)


def key(room, day, slot):
    return cell(room, day, slot).key


def test_day_grid_shows_free_mine_taken_and_past(client, day):
    alice = make_user("staff", name="Alice")
    bob = make_user("staff", name="<b>Bob</b>")
    room = make_room("Room Red")
    book_directly(alice, room, day, 9)
    book_directly(bob, room, day, 10)
    login(client, alice)
    page = client.get(f"/rooms/?date={day.isoformat()}").get_data(as_text=True)
    assert "Room Red" in page
    assert f'data-cell="{key(room, day, 9)}" data-state="mine"' in page
    assert f'data-cell="{key(room, day, 10)}" data-state="taken"' in page
    assert f'data-cell="{key(room, day, 11)}" data-state="free"' in page
    assert "&lt;b&gt;Bob&lt;/b&gt;" in page and "<b>Bob</b>" not in page
    # Someone else's cell carries no checkbox; one's own can be ticked for cancelling.
    assert f'name="book" value="{key(room, day, 10)}"' not in page
    assert f'name="cancel" value="{key(room, day, 10)}"' not in page
    assert f'name="cancel" value="{key(room, day, 9)}"' in page
    yesterday = clock.today() - dt.timedelta(days=1)
    past = client.get(f"/rooms/?date={yesterday.isoformat()}").get_data(as_text=True)
    assert f'data-cell="{key(room, yesterday, 12)}" data-state="past"' in past
    assert 'name="book"' not in past


@pytest.mark.parametrize("raw", ["garbage", "2026-02-30", "99999-01-01", "1000-01-01", "%00", "<script>"])
def test_bad_dates_show_today_with_a_message(client, raw):
    login(client, make_user("staff"))
    make_room()
    response = client.get("/rooms/", query_string={"date": raw})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert clock.today().isoformat() in page
    assert 'role="alert"' in page  # the warning names the bad value, escaped
    if raw == "<script>":
        assert "“&lt;script&gt;”" in page


def test_day_grid_queries_do_not_grow_with_rooms(app, client, day):
    user = make_user("staff")
    login(client, user)
    make_room()
    counts = []

    def count(*_args):
        counts[-1] += 1

    engine = db.session.get_bind()
    for extra in (0, 12):
        for _ in range(extra):
            other = make_user("staff")
            book_directly(other, make_room(), day, 15)
        counts.append(0)
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(f"/rooms/?date={day.isoformat()}").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    assert counts[0] == counts[1], counts


def test_plain_form_books_and_cancels_in_one_save(client, day):
    alice = make_user("staff")
    room = make_room()
    book_directly(alice, room, day, 9)
    login(client, alice)
    response = client.post("/rooms/changes", data={
        "origin": "day", "date": day.isoformat(), "next": f"/rooms/?date={day.isoformat()}",
        "book": [key(room, day, 14), key(room, day, 15)], "cancel": [key(room, day, 9)],
    })
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/rooms/?date={day.isoformat()}")
    assert [row[2] for row in bookings(room)] == [14, 15]


def test_conflict_saves_nothing_and_names_the_cell(client, day):
    alice, bob = make_user("staff"), make_user("staff")
    room = make_room("Room Green")
    book_directly(alice, room, day, 9)
    book_directly(bob, room, day, 15)
    login(client, alice)
    response = client.post("/rooms/changes", data={
        "origin": "day", "date": day.isoformat(),
        "book": [key(room, day, 14), key(room, day, 15)], "cancel": [key(room, day, 9)],
    })
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"Room Green {day.isoformat()} 15:00–16:00" in page
    assert "room-refused" in page
    # The rest of the selection is kept for another try.
    assert f'name="book" value="{key(room, day, 14)}" checked' in page
    assert bookings(room) == [(room.id, day, 9, alice.id), (room.id, day, 15, bob.id)]


def test_crafted_cancel_of_someone_elses_booking_is_refused(client, day):
    alice, bob = make_user("staff"), make_user("staff")
    room = make_room()
    book_directly(bob, room, day, 15)
    login(client, alice)
    response = client.post("/rooms/changes", data={"origin": "day", "date": day.isoformat(),
                                                    "cancel": [key(room, day, 15)]})
    assert response.status_code == 409
    assert bookings(room) == [(room.id, day, 15, bob.id)]


def test_past_slot_is_refused(client):
    alice = make_user("staff")
    room = make_room()
    yesterday = clock.today() - dt.timedelta(days=1)
    login(client, alice)
    response = client.post("/rooms/changes", data={"origin": "day", "date": yesterday.isoformat(),
                                                    "book": [key(room, yesterday, 14)]})
    assert response.status_code == 409
    assert bookings(room) == []


@pytest.mark.parametrize("data", [
    {},
    {"book": "not-a-cell"},
    {"book": "1:2030-02-30:14"},
    {"book": f"{2**31}:2030-03-04:14"},
    {"book": "99999999:2030-03-04:14"},
    {"book": "ROOM:2030-03-04:7"},
    {"book": "ROOM:2030-03-04:21"},
    {"book": "ROOM:DAY:14\x00"},
    {"book": "ROOM:DAY:14", "repeat_weeks": "abc"},
    {"book": "ROOM:DAY:14", "repeat_weeks": "99999999999999999999"},
    {"book": "ROOM:DAY:14", "repeat_weeks": "0"},
    {"book": "ROOM:DAY:14", "repeat_weeks": "999"},
    {"book": ["ROOM:DAY:14"] * 1001},
    {"book": "ROOM:9999-12-31:14"},
    {"cancel": "<script>alert(1)</script>"},
    {"book": "ROOM:DAY:14", "cancel": "ROOM:DAY:14"},
])
def test_bad_submits_are_refused_with_a_message(client, day, data):
    room = make_room()
    login(client, make_user("staff"))

    def fill(value):
        return value.replace("ROOM", str(room.id)).replace("DAY", day.isoformat())

    data = {name: [fill(v) for v in value] if isinstance(value, list) else fill(value) for name, value in data.items()}
    data.update(origin="day", date=day.isoformat())
    response = client.post("/rooms/changes", data=data)
    assert response.status_code in (409, 422), response.status_code
    assert 'data-testid="room-errors"' in response.get_data(as_text=True)
    assert "<script>alert" not in response.get_data(as_text=True)
    assert bookings() == []


def test_repeat_lists_conflicts_before_saving_then_books_the_free_ones(client, day):
    alice, bob = make_user("staff"), make_user("staff", name="Bob Busy")
    room = make_room()
    book_directly(bob, room, day + dt.timedelta(weeks=2), 14)
    login(client, alice)
    form = {"origin": "day", "date": day.isoformat(), "book": [key(room, day, 14)], "repeat_weeks": "3"}
    preview = client.post("/rooms/changes", data=form)
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert 'data-testid="repeat-conflicts"' in page and "Bob Busy" in page
    assert (day + dt.timedelta(weeks=2)).isoformat() in page
    assert len(bookings(room)) == 1  # nothing saved yet ("book none" is just going back)
    saved = client.post("/rooms/changes", data={**form, "on_conflict": "skip"})
    assert saved.status_code == 302
    mine = [row for row in bookings(room) if row[3] == alice.id]
    assert [row[1] for row in mine] == [day, day + dt.timedelta(weeks=1)]


def test_repeat_without_conflicts_saves_at_once(client, day):
    alice = make_user("staff")
    room = make_room()
    login(client, alice)
    response = client.post("/rooms/changes", data={"origin": "week", "room": str(room.id), "date": day.isoformat(),
                                                   "book": [key(room, day, 14)], "repeat_weeks": "4"})
    assert response.status_code == 302
    assert len(bookings(room)) == 4


def test_week_view_of_one_room(client, day):
    alice = make_user("staff")
    room = make_room("Room Week")
    book_directly(alice, room, day, 16)
    login(client, alice)
    response = client.get(f"/rooms/{room.id}/week?date={day.isoformat()}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'data-cell="{key(room, day, 16)}" data-state="mine"' in page
    monday = day - dt.timedelta(days=day.weekday())
    assert f'data-cell="{key(room, monday, 8)}"' in page
    assert f'data-cell="{key(room, monday + dt.timedelta(days=6), 20)}"' in page


@pytest.mark.parametrize("path", ["/rooms/999999/week", f"/rooms/{2**31}/week", "/rooms/abc/week", "/rooms/0/week"])
def test_week_of_unknown_room_is_404(client, path):
    login(client, make_user("staff"))
    assert client.get(path).status_code == 404


def test_week_of_inactive_room_is_404(client):
    login(client, make_user("staff"))
    assert client.get(f"/rooms/{make_room(active=False).id}/week").status_code == 404


def test_my_bookings_lists_upcoming_and_past_and_cancels(client, day):
    alice = make_user("staff")
    room = make_room("Room Mine")
    book_directly(alice, room, day, 14)
    book_directly(alice, room, clock.today() - dt.timedelta(days=3), 10)
    login(client, alice)
    page = client.get("/rooms/mine").get_data(as_text=True)
    upcoming, past = page.split('data-testid="upcoming"')[1].split('data-testid="past"')
    assert day.isoformat() in upcoming
    assert (clock.today() - dt.timedelta(days=3)).isoformat() in past
    response = client.post("/rooms/changes", data={"origin": "mine", "next": "/rooms/mine",
                                                   "cancel": [key(room, day, 14)]})
    assert response.status_code == 302 and response.headers["Location"].endswith("/rooms/mine")
    assert len(bookings(room)) == 1


def test_admin_manages_rooms_through_the_admin_list(client):
    login(client, make_user("staff"))
    assert client.get("/rooms/admin/").status_code == 403
    client.post("/auth/logout")
    login(client, make_user("admin"))
    assert client.get("/rooms/admin/").status_code == 200
    response = client.post("/rooms/admin/new/", data={"name": "  Room New  ", "capacity": "12", "active": "y"})
    assert response.status_code == 302
    from crm.rooms.models import Room
    room = db.session.scalar(sa.select(Room).where(Room.name == "Room New"))
    assert room is not None and room.capacity == 12 and room.active
    for bad in ({"name": "", "capacity": "3"}, {"name": "x\x00y", "capacity": "3"},
                {"name": "Room New", "capacity": "3"}, {"name": "Ok", "capacity": "0"},
                {"name": "Ok", "capacity": "99999999999999"}, {"name": "Ok", "capacity": "abc"},
                {"name": "y" * 65, "capacity": "3"}):
        assert client.post("/rooms/admin/new/", data=bad).status_code == 200  # the form again, with messages
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Room)) == 1


def test_a_room_with_bookings_is_not_deleted(client, day):
    room = make_room()
    book_directly(make_user("staff"), room, day, 14)
    login(client, make_user("admin"))
    client.post("/rooms/admin/delete/", data={"id": str(room.id)})
    assert db.session.get(type(room), room.id) is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomBooking)) == 1


@pytest.mark.parametrize("room_value", ["ROOM", "abc", str(2**31), "99999999", ""])
def test_refused_week_submit_shows_the_week_again(client, day, room_value):
    alice, bob = make_user("staff"), make_user("staff")
    room = make_room()
    book_directly(bob, room, day, 15)
    login(client, alice)
    response = client.post("/rooms/changes", data={
        "origin": "week", "room": room_value.replace("ROOM", str(room.id)), "date": day.isoformat(),
        "book": [key(room, day, 15)],
    })
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    # The room's week when the form names a real room; the day grid otherwise.
    assert ('data-testid="rooms-week"' in page) == (room_value == "ROOM")
    assert 'data-testid="room-errors"' in page


def test_a_deadlock_or_lock_timeout_is_a_refusal_not_a_500(client, day, monkeypatch):
    from crm.rooms import services

    def deadlocked(*_args, **_kwargs):
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("deadlock detected"))

    monkeypatch.setattr(services, "apply_changes", deadlocked)
    room = make_room()
    login(client, make_user("staff"))
    response = client.post("/rooms/changes", data={"origin": "day", "date": day.isoformat(),
                                                   "book": [key(room, day, 14)]})
    assert response.status_code == 409
    assert 'data-testid="room-errors"' in response.get_data(as_text=True)
