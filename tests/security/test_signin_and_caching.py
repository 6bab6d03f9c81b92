"""Equal-time sign-in and no-store on signed-in pages (issue 12, item 6)."""
from __future__ import annotations

import statistics
import time
import uuid

from crm.auth import signin
from crm.core.errors import DomainError
from tests.auth.conftest import fresh_ip
from tests.factories import login, make_user


def _seconds(username: str) -> float:
    started = time.perf_counter()
    try:
        signin.authenticate(username, "wrong-password-1", fresh_ip())
    except DomainError:
        pass
    return time.perf_counter() - started


def test_an_unknown_user_name_takes_as_long_as_a_wrong_password(app):
    user = make_user("consultant")
    with app.test_request_context():
        _seconds("warm-up-" + uuid.uuid4().hex)
        known = statistics.median(_seconds(user.username) for _ in range(5))
        unknown = statistics.median(_seconds("nobody-" + uuid.uuid4().hex) for _ in range(5))
    assert unknown > known * 0.5, (known, unknown)


def test_signed_in_html_is_not_stored_but_the_sign_in_page_may_be(new_client):
    client = new_client()
    assert "no-store" not in client.get("/auth/login").headers.get("Cache-Control", "")
    login(client, make_user("admin"))
    for url in ("/", "/auth/roles", "/admin/users/", "/sales/leads"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
