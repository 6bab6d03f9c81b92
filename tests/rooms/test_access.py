"""Every rooms endpoint × every demo role: who may open it, who gets 403, anonymous goes to sign in (P-3)."""
from __future__ import annotations

import pytest

from crm.core.access import PUBLIC, access_for
from tests.factories import login, make_user
from tests.rooms.helpers import make_room

ROLES = ["admin", "ceo", "sales_director", "consultant", "tutor", "teacher", "staff", "student"]
BOOKERS = {"admin", "ceo", "sales_director", "consultant", "tutor", "teacher", "staff"}
MANAGERS = {"admin"}

# (method, path, who may, what they get)
PAGES = [
    ("get", "/rooms/", BOOKERS, 200),
    ("get", "/rooms/{room}/week", BOOKERS, 200),
    ("get", "/rooms/mine", BOOKERS, 200),
    ("post", "/rooms/changes", BOOKERS, 422),  # an empty change: refused with a message
    ("post", "/rooms/mine/feed-key", BOOKERS, 302),
    ("get", "/rooms/admin/", MANAGERS, 200),
    ("get", "/rooms/admin/new/", MANAGERS, 200),
    ("get", "/rooms/admin/export/xlsx/", MANAGERS, 200),
]


def test_every_rooms_endpoint_declares_access(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if rule.endpoint.startswith(("rooms.", "rooms_admin."))}
    assert {"rooms.day", "rooms.week", "rooms.submit", "rooms.mine", "rooms.regenerate_feed", "rooms.feed",
            "rooms_admin.index_view"} <= endpoints
    for endpoint in endpoints:
        access = access_for(app, endpoint)
        if endpoint == "rooms.feed":
            assert access == PUBLIC
        elif endpoint.startswith("rooms_admin."):
            assert access == ("rooms.manage",), endpoint
        else:
            assert access == ("rooms.book",), endpoint


@pytest.mark.parametrize("method,path,allowed,status", PAGES)
def test_anonymous_goes_to_sign_in(client, method, path, allowed, status):
    room = make_room()
    response = getattr(client, method)(path.format(room=room.id))
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,allowed,status", PAGES)
def test_each_role(client, role, method, path, allowed, status):
    room = make_room()
    login(client, make_user(role))
    response = getattr(client, method)(path.format(room=room.id))
    assert response.status_code == (status if role in allowed else 403), (role, path)


@pytest.mark.parametrize("role", ROLES)
def test_menu_shows_rooms_to_bookers_only(client, role):
    login(client, make_user(role))
    page = client.get("/").get_data(as_text=True)
    assert ('data-endpoint="rooms.day"' in page) == (role in BOOKERS)
    assert ('data-endpoint="rooms_admin.index_view"' in page) == (role in MANAGERS)
