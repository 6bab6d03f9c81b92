"""Redis down (S-6, S-21, §6 Faults): the lead API saves the lead to the pool like the form; sign-in and the
allocation page answer 503 with a message and Retry-After; never 500.

The app's Redis client is pointed at a port nobody listens on, so every Redis step fails the way it
does when the server was killed (connection refused); the shared Redis is not touched.
"""
from __future__ import annotations

import json

import pytest
import redis as redis_lib
import sqlalchemy as sa

from crm.api import services
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, SaleRank
from tests.auth.conftest import fresh_ip
from tests.factories import PASSWORD, login, make_user
from tests.smtp_fixtures import free_port


def point_redis_at_a_closed_port(app, monkeypatch) -> redis_lib.Redis:
    """The app's Redis client (and the allocation scripts bound to it) now use a closed 127.0.0.1 port."""
    # Built like the app's own client (crm.extensions: from_url, no retry loop of its own).
    closed = redis_lib.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", decode_responses=True,
                                      socket_connect_timeout=1, socket_timeout=1)
    monkeypatch.setitem(app.extensions, "crm_redis", closed)
    monkeypatch.setitem(app.extensions, "crm_alloc_scripts", None)  # rebuilt on the closed client, undone after
    return closed


@pytest.fixture
def redis_down(app, monkeypatch):
    closed = point_redis_at_a_closed_port(app, monkeypatch)
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


def test_allocation_page_while_redis_is_down_answers_503_with_a_message(app, monkeypatch):
    admin = make_user("admin")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = fresh_ip()
    client.post("/language/en")
    assert login(client, admin).status_code == 302  # signed in while Redis answers
    closed = point_redis_at_a_closed_port(app, monkeypatch)
    response = client.get("/sales/allocation")
    closed.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "not answering right now" in response.get_data(as_text=True)


def test_lead_api_while_redis_is_down_saves_the_lead_to_the_pool(app, redis_down, caplog):
    _token, clear = services.create_token(None, name="官网", rate_per_minute=1)
    db.session.commit()
    answers = [app.test_client().post(
        "/api/v1/leads", data=json.dumps({"qq": f"555000{n}", "name": "赵六", "gender": 2, "source": 3}),
        headers={"Authorization": f"Bearer {clear}", "Idempotency-Key": f"outage-{n}"},
        content_type="application/json",
    ) for n in range(2)]  # two with a limit of one a minute: the limit cannot count and lets both through
    for response in answers:
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert (body["consultant"], body["assigned"], body["status"]) == (None, False, "pool")
        assert body["note"].startswith("allocation is unavailable")
        customer = db.session.get(Customer, body["id"])
        assert customer.consultant_id is None and customer.pool_reason == choices.POOL_UNASSIGNED
    assert "API rate limit not counted" in caplog.text
    replay = app.test_client().post(
        "/api/v1/leads", data=json.dumps({"qq": "5550000", "name": "赵六", "gender": 2, "source": 3}),
        headers={"Authorization": f"Bearer {clear}", "Idempotency-Key": "outage-0"}, content_type="application/json")
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json() == answers[0].get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2


def test_lead_form_while_redis_is_down_saves_the_lead_to_the_pool_and_says_why(app, monkeypatch):
    staff = make_user("staff")
    consultant = make_user("consultant")
    db.session.add(SaleRank(user_id=consultant.id, weight=1, num=1))  # someone could take it, were Redis up
    db.session.commit()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = fresh_ip()
    client.post("/language/en")
    assert login(client, staff).status_code == 302  # signed in while Redis answers
    closed = point_redis_at_a_closed_port(app, monkeypatch)
    response = client.post("/sales/leads/new", data={"qq": "5551234", "name": "赵六", "gender": "1", "source": "3",
                                                     "education": "0", "experience": "0", "work_status": "0"},
                           follow_redirects=True)
    closed.close()
    assert response.status_code == 200
    assert "Allocation is unavailable right now, so it went to the public pool" in response.get_data(as_text=True)
    customer = db.session.scalar(sa.select(Customer).where(Customer.qq == "5551234"))
    assert customer.consultant_id is None and customer.pool_reason == choices.POOL_UNASSIGNED
