"""Web-to-lead API (S-10): auth, rate limit, body checks, validation, dedupe, idempotency."""
from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from crm.api import services
from crm.api.models import ApiToken, IdempotencyRecord
from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales import allocation
from crm.sales.models import Customer, CustomerDistribution, SaleRank
from tests.factories import make_user

URL = "/api/v1/leads"


@pytest.fixture(autouse=True)
def fresh_redis_state(app, redis_client):
    """No queue or rate counters left from another test (row ids repeat after rollbacks on SQLite)."""
    def clear():
        allocation.reset_state()
        keys = list(redis_client.scan_iter(f"{app.config['CRM_REDIS_PREFIX']}:api:rate:*"))
        if keys:
            redis_client.delete(*keys)

    with app.app_context():  # committing tests run without one
        clear()
    yield
    with app.app_context():
        clear()


def make_token(rate: int = 1000, active: bool = True) -> str:
    """A committed token; returns the clear value."""
    token, clear = services.create_token(None, name="官网", rate_per_minute=rate)
    token.active = active
    db.session.commit()
    return clear


def consultant(weight: int = 5, num: int = 1, email: str | None = "c@example.com"):
    user = make_user("consultant", email=email, name="钱顾问")
    db.session.add(SaleRank(user_id=user.id, weight=weight, num=num))
    db.session.commit()
    return user


def post(client, body, token: str | None, *, key: str | None = None, content_type="application/json", raw=None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, headers=headers, content_type=content_type)


def lead(**overrides):
    body = {"qq": "888001", "name": "孙七", "gender": 1}
    body.update(overrides)
    return body


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# -- success -----------------------------------------------------------------------------------
def test_created_lead_is_allocated_and_answered_201(client):
    holder = consultant()
    token = make_token()
    response = post(client, lead(phone="+86 139 0000 1111", email="Sun@Example.com", source="官方网站"), token)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body == {"id": body["id"], "consultant": {"id": holder.id, "name": "钱顾问"}, "assigned": True,
                    "status": "assigned"}
    customer = db.session.get(Customer, body["id"])
    assert customer.channel == "api" and customer.phone == "13900001111" and customer.email == "sun@example.com"
    history = db.session.scalar(sa.select(CustomerDistribution).where(CustomerDistribution.customer_id == customer.id))
    assert history.origin == "api"
    assert db.session.scalar(sa.select(Notification).where(Notification.recipient_id == holder.id)) is not None
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) is not None


def test_no_consultant_gives_an_unassigned_lead(client):
    token = make_token()
    response = post(client, lead(), token)
    assert response.status_code == 201
    body = response.get_json()
    assert body["consultant"] is None and body["assigned"] is False and body["status"] == "pool"
    assert body["note"].startswith("no consultant can take leads now")
    assert db.session.get(Customer, body["id"]).pool_reason == 1


def test_qq_as_a_number_is_accepted(client):
    token = make_token()
    assert post(client, lead(qq=12345678), token).status_code == 201


# -- auth and limits ---------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer wrong-token",
                                    "Bearer " + "x" * 5000])
def test_missing_or_bad_token_is_401(client, header):
    make_token()
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(URL, data=json.dumps(lead()), headers=headers, content_type="application/json")
    assert response.status_code == 401
    assert "error" in response.get_json() and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(Customer) == 0


def test_inactive_token_is_401(client):
    token = make_token(active=False)
    assert post(client, lead(), token).status_code == 401


def test_deactivated_token_stops_working(client):
    token = make_token()
    assert post(client, lead(), token).status_code == 201
    row = db.session.scalar(sa.select(ApiToken))
    services.deactivate_token(None, row.id)
    db.session.commit()
    assert post(client, lead(qq="888002"), token).status_code == 401


def test_rate_limit_answers_429_with_retry_after(client):
    token = make_token(rate=3)
    codes = [post(client, lead(qq=str(880100 + i)), token).status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    response = post(client, lead(qq="880199"), token)
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
    assert count(Customer) == 3


def test_rate_limit_windows_are_per_minute(app):
    first = services.hit_rate_limit(424242, 2, now=6000.0)
    second = services.hit_rate_limit(424242, 2, now=6010.0)
    third = services.hit_rate_limit(424242, 2, now=6059.0)
    next_minute = services.hit_rate_limit(424242, 2, now=6060.0)
    assert [d.allowed for d in (first, second, third, next_minute)] == [True, True, False, True]
    assert third.retry_after == 1 and first.retry_after == 60


# -- body checks -------------------------------------------------------------------------------
def test_other_content_types_are_415(client):
    token = make_token()
    response = client.post(URL, data={"qq": "888001"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 415
    assert post(client, None, token, raw="qq=1", content_type="text/plain").status_code == 415


@pytest.mark.parametrize("raw", ["{", "", "nul", "{'qq': 1}", "[1, 2]", "\"text\"", "123", b"\xff\xfe{}",
                                 "[" * 100000 + "]" * 100000])
def test_malformed_json_is_400_or_413(client, raw):
    token = make_token()
    response = post(client, None, token, raw=raw)
    assert response.status_code in (400, 413) and "error" in response.get_json()
    assert count(Customer) == 0


def test_huge_body_is_413_json(client):
    token = make_token()
    response = post(client, lead(memo="x" * 70000), token)
    assert response.status_code == 413 and "error" in response.get_json()
    assert count(Customer) == 0


def test_huge_body_without_token_is_also_413(client):
    response = post(client, None, None, raw="x" * 200000)
    assert response.status_code == 413


@pytest.mark.parametrize("body, field", [
    ({"qq": ["123456"], "name": "a", "gender": 1}, "qq"),
    ({"qq": "123456", "name": 42.5, "gender": 1}, "name"),
    ({"qq": "123456", "name": "a", "gender": "x"}, "gender"),
    ({"qq": "123456", "name": "a", "gender": 1, "phone": "12"}, "phone"),
    ({"qq": "123456", "name": "a", "gender": 1, "email": "bad@"}, "email"),
    ({"qq": "123456", "name": "a", "gender": 1, "course_ids": [999999]}, "course_ids"),
    ({"qq": "123456", "name": "a", "gender": 1, "course_ids": {"a": 1}}, "course_ids"),
    ({"qq": "123456", "name": "a", "gender": 1, "nickname": "x"}, "nickname"),
    ({"qq": None, "name": None, "gender": None}, "qq"),
    ({}, "name"),
])
def test_validation_errors_are_422_with_fields(client, body, field):
    token = make_token()
    response = post(client, body, token)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count(Customer) == 0


def test_script_and_unicode_are_stored_verbatim_and_answered_as_json(client):
    token = make_token()
    response = post(client, lead(name="<script>x</script>", memo="😀 中文 \u202e"), token)
    assert response.status_code == 201
    customer = db.session.get(Customer, response.get_json()["id"])
    assert customer.name == "<script>x</script>" and customer.memo == "😀 中文 \u202e"
    assert response.mimetype == "application/json"


# -- duplicates --------------------------------------------------------------------------------
def test_duplicate_is_409_with_existing_id(client):
    token = make_token()
    first = post(client, lead(email="a@example.com"), token).get_json()["id"]
    for body in (lead(), lead(qq="888003", email="A@EXAMPLE.COM")):
        response = post(client, body, token)
        assert response.status_code == 409
        assert response.get_json()["existing_id"] == first and "error" in response.get_json()
    assert count(Customer) == 1


# -- idempotency -------------------------------------------------------------------------------
def test_same_key_same_body_replays_the_answer(client):
    holder = consultant()
    consultant(weight=1)
    token = make_token()
    first = post(client, lead(), token, key="order-42")
    again = post(client, {"gender": 1, "name": "孙七", "qq": "888001"}, token, key="order-42")  # key order differs
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and first.get_json()["consultant"]["id"] == holder.id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(Customer) == 1
    # No slot was spent on the replay: the next lead goes to the second consultant.
    nxt = post(client, lead(qq="888004"), token).get_json()
    assert nxt["consultant"]["id"] != holder.id


def test_same_key_different_body_is_refused(client):
    token = make_token()
    assert post(client, lead(), token, key="k1").status_code == 201
    response = post(client, lead(qq="888005"), token, key="k1")
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["error"]
    assert count(Customer) == 1


def test_keys_belong_to_their_token(client):
    one, two = make_token(), make_token()
    assert post(client, lead(), one, key="same").status_code == 201
    assert post(client, lead(qq="888006"), two, key="same").status_code == 201


def test_failed_answers_are_replayed_too(client):
    token = make_token()
    first = post(client, lead(qq="1"), token, key="bad-1")
    assert first.status_code == 422
    again = post(client, lead(qq="1"), token, key="bad-1")
    assert again.status_code == 422 and again.get_json() == first.get_json()
    assert db.session.scalar(sa.select(IdempotencyRecord.status_code).where(IdempotencyRecord.key == "bad-1")) == 422


@pytest.mark.parametrize("key", ["x" * 129, "has space", "tab\tkey", "clé"])
def test_bad_idempotency_keys_are_400(client, key):
    token = make_token()
    response = client.post(URL, data=json.dumps(lead()), content_type="application/json",
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
    assert response.status_code == 400
    assert count(Customer) == 0


# -- concurrency (real commits, threads) -------------------------------------------------------
def _hammer(app, token: str, bodies_and_keys, results):
    barrier = threading.Barrier(len(bodies_and_keys))

    def run(body, key):
        client = app.test_client()
        barrier.wait()
        response = post(client, body, token, key=key)
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=run, args=item) for item in bodies_and_keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


@pytest.mark.committing
def test_concurrent_duplicate_submits_make_exactly_one_lead(app, clean_database):
    with app.app_context():
        consultant()
        token = make_token()
    results: list = []
    _hammer(app, token, [(lead(qq="990001"), None)] * 8, results)
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 7, results
    created = next(body["id"] for code, body in results if code == 201)
    assert all(body["existing_id"] == created for code, body in results if code == 409)
    with app.app_context():
        assert count(Customer) == 1
        allocation.reset_state()


@pytest.mark.committing
def test_concurrent_retries_with_one_key_make_one_lead_and_replay(app, clean_database):
    with app.app_context():
        consultant()
        token = make_token()
    results: list = []
    _hammer(app, token, [(lead(qq="990002"), "retry-1")] * 6, results)
    assert [code for code, _ in results] == [201] * 6, results
    assert len({body["id"] for _, body in results}) == 1
    with app.app_context():
        assert count(Customer) == 1 and count(IdempotencyRecord) == 1
        allocation.reset_state()
