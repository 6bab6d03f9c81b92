"""Equal-time sign-in and no-store on signed-in pages (issue 12, item 6)."""
from __future__ import annotations

import statistics
import time
import uuid

import werkzeug.security

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


def test_an_unknown_user_name_does_the_same_hash_work_as_a_wrong_password(app, monkeypatch):
    """The deterministic half: both paths verify one password hash of the same method and cost
    (scrypt with the same parameters), so neither can answer faster however loaded the machine."""
    user = make_user("consultant")
    verified: list[str] = []
    real = werkzeug.security._hash_internal

    def counting(method: str, salt: str, password: str):
        verified.append(method)
        return real(method, salt, password)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", counting)
    with app.test_request_context():
        _seconds("warm-up-" + uuid.uuid4().hex)  # the dummy hash is made once, on first use
        verified.clear()
        _seconds(user.username)
        known = list(verified)
        verified.clear()
        _seconds("nobody-" + uuid.uuid4().hex)
        unknown = list(verified)
    assert len(known) == 1 and known[0].startswith("scrypt"), known
    assert unknown == known


def test_an_unknown_user_name_takes_about_as_long_as_a_wrong_password(app):
    """The measured half, robust on a loaded machine: many samples taken in turns (load hits both
    alike) and a generous bound; a path that skipped the hash work (~10x faster) still fails."""
    user = make_user("consultant")
    known, unknown = [], []
    with app.test_request_context():
        _seconds("warm-up-" + uuid.uuid4().hex)
        for _ in range(9):
            known.append(_seconds(user.username))
            unknown.append(_seconds("nobody-" + uuid.uuid4().hex))
    assert statistics.median(unknown) > statistics.median(known) * 0.4, (known, unknown)


def test_signed_in_html_is_not_stored_but_the_sign_in_page_may_be(new_client):
    client = new_client()
    assert "no-store" not in client.get("/auth/login").headers.get("Cache-Control", "")
    login(client, make_user("admin"))
    for url in ("/", "/auth/roles", "/admin/users/", "/sales/leads"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
