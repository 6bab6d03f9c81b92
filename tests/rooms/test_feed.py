"""The iCalendar feed at a secret URL: parses, local times, 404 for wrong or replaced tokens (R-5)."""
from __future__ import annotations

import datetime as dt
import re

import icalendar

from crm.core import clock
from tests.factories import login, make_user
from tests.rooms.helpers import book_directly, make_room


def feed_path(client) -> str:
    page = client.get("/rooms/mine").get_data(as_text=True)
    found = re.search(r'value="https?://[^/"]+(/rooms/feed/[^"]+\.ics)" id="feed-url"', page)
    assert found, "no feed address on My bookings"
    return found.group(1)


def test_feed_parses_and_has_local_times(app, client):
    alice = make_user("staff", name="Alice")
    room = make_room("Room Cal")
    day = clock.today() + dt.timedelta(days=2)
    booking = book_directly(alice, room, day, 9)
    book_directly(make_user("staff"), room, day, 10)  # someone else's: not in Alice's feed
    login(client, alice)
    path = feed_path(client)
    client.post("/auth/logout")

    response = client.get(path)  # calendar apps do not sign in
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start.tzinfo is not None
    assert str(event["SUMMARY"]) == "Room Cal"
    assert str(event["UID"]) == f"room-booking-{booking.id}@campus-crm"
    assert start.utcoffset() == dt.timedelta(hours=8)  # Asia/Shanghai
    assert (start.date(), start.hour, end.hour) == (day, 9, 10)
    assert start.astimezone(dt.timezone.utc).hour == 1
    assert event["DTSTART"].params.get("TZID") == "Asia/Shanghai"
    assert any(tz["TZID"] == "Asia/Shanghai" for tz in calendar.walk("VTIMEZONE"))


def test_wrong_and_regenerated_tokens_get_404(client):
    alice = make_user("staff")
    login(client, alice)
    old = feed_path(client)
    assert client.get(old).status_code == 200
    assert client.get(feed_path(client)) is not None and feed_path(client) == old  # stable until regenerated
    user_part, token = old.rsplit("/", 1)
    assert client.get(f"{user_part}/{'A' * len(token)}").status_code == 404
    assert client.get(f"{user_part}/x.ics").status_code == 404
    assert client.get(f"/rooms/feed/{2**31}/{token}").status_code == 404
    other = make_user("staff")
    assert client.get(f"/rooms/feed/{other.id}/{token}").status_code == 404  # another user's id

    response = client.post("/rooms/mine/feed-key")
    assert response.status_code == 302
    new = feed_path(client)
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_feed_of_a_deactivated_account_is_404(client):
    from crm.extensions import db

    alice = make_user("staff")
    login(client, alice)
    path = feed_path(client)
    alice.active = False
    db.session.commit()
    client.post("/auth/logout")
    assert client.get(path).status_code == 404
