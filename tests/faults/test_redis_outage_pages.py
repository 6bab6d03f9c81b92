"""Redis down (S-21, §6 Faults): sign-in and the lead API answer 503 with a message and Retry-After, never 500.

The app's Redis client is pointed at a port nobody listens on, so every Redis step fails the way it
does when the server was killed (connection refused); the shared Redis is not touched.
"""
from __future__ import annotations

import json

import pytest
import redis as redis_lib

from crm.api import services
from crm.extensions import db
from tests.auth.conftest import fresh_ip
from tests.factories import PASSWORD, make_user
from tests.smtp_fixtures import free_port


@pytest.fixture
def redis_down(app, monkeypatch):
    """The app's Redis client now points at a closed 127.0.0.1 port."""
    closed = redis_lib.Redis(host="127.0.0.1", port=free_port(), decode_responses=True,
                             socket_connect_timeout=1, socket_timeout=1)
    monkeypatch.setitem(app.extensions, "crm_redis", closed)
    yield closed
    closed.close()


@pytest.mark.parametrize("password", [PASSWORD, "wrong-pass-1"])
def test_sign_in_while_redis_is_down_answers_503_with_a_message(app, redis_down, password):
    user = make_user("admin")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = fresh_ip()
    client.post("/language/en")
    response = client.post("/auth/login", data={"username": user.username, "password": password})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "not answering right now" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in


def test_lead_api_while_redis_is_down_answers_503_with_retry_after(app, redis_down, fault_trial, fault_report):
    _token, clear = services.create_token(None, name="官网", rate_per_minute=1000)
    db.session.commit()
    response = app.test_client().post(
        "/api/v1/leads", data=json.dumps({"qq": "5550001", "name": "赵六", "gender": 2, "source": 3}),
        headers={"Authorization": f"Bearer {clear}"}, content_type="application/json",
    )
    fault_report(items=1, lost=0, doubled=0, server_errors=int(response.status_code == 500))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]
