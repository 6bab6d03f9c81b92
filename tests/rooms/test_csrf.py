"""The rooms forms with CSRF on, as in production: no token, no change; with the page's token, saved."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.rooms.models import RoomBooking, RoomFeedKey
from tests.factories import PASSWORD, make_user
from tests.rooms.helpers import make_room


@pytest.fixture
def csrf_client(build_app, clean_database):
    """A client of a second app with WTF_CSRF_ENABLED=True, signed in as staff; and a room."""
    csrf_app = build_app(WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        username = make_user("staff").username
        room_id = make_room().id
    client = csrf_app.test_client()
    token = token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    yield csrf_app, client, room_id


def token_from(html: str) -> str:
    """The CSRF token rendered into a page."""
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def count(app, model) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(sa.func.count()).select_from(model))
        db.session.remove()
        return found


@pytest.mark.committing
def test_submit_needs_the_csrf_token(csrf_client):
    app, client, room_id = csrf_client
    with app.app_context():
        day = (clock.today() + dt.timedelta(days=3)).isoformat()
    cell = f"{room_id}:{day}:14"
    assert client.post("/rooms/changes", data={"book": cell, "date": day}).status_code == 400
    assert count(app, RoomBooking) == 0
    token = token_from(client.get(f"/rooms/day?date={day}").get_data(as_text=True))
    response = client.post("/rooms/changes", data={"book": cell, "date": day, "csrf_token": token})
    assert response.status_code == 302
    assert count(app, RoomBooking) == 1


@pytest.mark.committing
def test_feed_key_regeneration_needs_the_csrf_token(csrf_client):
    app, client, _room_id = csrf_client
    page = client.get("/rooms/mine").get_data(as_text=True)
    old = re.search(r'(/rooms/feed/[^"]+\.ics)', page).group(1)
    assert client.post("/rooms/mine/feed-key").status_code == 400
    assert client.get(old).status_code == 200
    assert client.post("/rooms/mine/feed-key", data={"csrf_token": token_from(page)}).status_code == 302
    assert client.get(old).status_code == 404
    assert count(app, RoomFeedKey) == 1
