"""Helpers for the accounts tests: clients from distinct addresses that never share a signed-in user."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import FreshRequestClient


class FreshUserClient(FreshRequestClient):
    """A test client that makes Flask-Login load the user from its own session on every request
    (the shared FreshRequestClient, kept under this name for the auth tests)."""


def fresh_ip() -> str:
    """An address no other test used, so Redis failure counters never leak between tests."""
    raw = uuid.uuid4().int
    return f"10.{raw % 250}.{(raw >> 8) % 250}.{(raw >> 16) % 250 + 1}"


@pytest.fixture
def new_client(app):
    """Factory: a client from its own (or the given) address, with the English interface.

    English, because the tests read messages and the Chinese catalogue
    translates them once compiled.
    """

    def build(ip: str | None = None) -> FreshUserClient:
        client = FreshUserClient(app, app.response_class, use_cookies=True)
        client.environ_base["REMOTE_ADDR"] = ip or fresh_ip()
        client.post("/language/en")
        return client

    return build


def expire_now(redis_client, *keys: str) -> None:
    """End a lock by shortening its Redis TTL instead of waiting 15 minutes."""
    for key in keys:
        redis_client.pexpire(key, 1)
    deadline = time.monotonic() + 2
    while any(redis_client.exists(k) for k in keys) and time.monotonic() < deadline:
        time.sleep(0.005)


def one_time_password(html: str) -> str:
    """The password shown once on the 'account created' / 'password reset' page."""
    marker = 'data-testid="one-time-password">'
    start = html.index(marker) + len(marker)
    return html[start:html.index("<", start)].strip()
