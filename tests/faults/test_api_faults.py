"""16.3 with a real Redis of the test's own: kill -9 it in the middle of a burst of lead API posts.

The website keeps posting while Redis is dead and after it came back empty: every post is answered
201 (assigned while the queue answers, saved to the pool with a note while it does not), no 5xx,
every lead is in the database exactly once, and an Idempotency-Key repeated afterwards replays the
first answer instead of saving again.
"""
from __future__ import annotations

import collections
import json
import threading
import time

import pytest
import sqlalchemy as sa

from crm.api import services
from crm.extensions import db
from crm.sales.models import Customer, SaleRank
from tests.factories import make_user
from tests.faults.test_email_faults import wait_for

THREADS = 2
PER_THREAD = 40
AFTER_KILL = 12  # answers to collect while Redis is dead, before it is started again


@pytest.mark.committing
def test_lead_api_burst_while_redis_is_killed(app, build_app, clean_database, private_redis,
                                              fault_trial, fault_report):
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    answers: list[tuple[str, int, dict, float, float]] = []  # (qq, status, body, sent, answered) as answered
    times: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    with other.app_context():
        holder = make_user("consultant", name="钱顾问", email="qian@example.com")
        db.session.add(SaleRank(user_id=holder.id, weight=5, num=1))
        _token, clear = services.create_token(None, name="官网", rate_per_minute=100000)
        db.session.commit()

    def post(client, qq: str):
        return client.post(
            "/api/v1/leads", data=json.dumps({"qq": qq, "name": f"客户{qq}", "gender": 1, "source": 3}),
            headers={"Authorization": f"Bearer {clear}", "Idempotency-Key": f"burst-{qq}"},
            content_type="application/json")

    def website(thread: int) -> None:
        client = other.test_client()
        for n in range(PER_THREAD):
            if stop.is_set():
                return
            qq = f"7{thread}{n:04d}"
            sent = time.monotonic()
            response = post(client, qq)
            with lock:
                answers.append((qq, response.status_code, response.get_json(silent=True) or {}, sent,
                                time.monotonic()))
            time.sleep(0.05)

    threads = [threading.Thread(target=website, args=(i,), daemon=True) for i in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: len(answers) >= 15, 30, step=0.05, what="the first answers")
        private_redis.kill()
        times["killed"] = time.monotonic()
        killed_at = len(answers)
        wait_for(lambda: len(answers) >= killed_at + AFTER_KILL, 30, step=0.05, what="answers while Redis is dead")
        times["restarting"] = time.monotonic()
        private_redis.start()  # empty: the allocation queue is rebuilt from the table (S-6)
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "the burst did not finish"
    finally:
        stop.set()

    posted = [answer[0] for answer in answers]
    assert len(posted) == THREADS * PER_THREAD
    statuses = collections.Counter(answer[1] for answer in answers)
    with other.app_context():
        stored = collections.Counter(db.session.scalars(sa.select(Customer.qq).where(Customer.qq.in_(posted))))
        ids = {answer[0]: answer[2].get("id") for answer in answers}
        rows = dict(db.session.execute(sa.select(Customer.qq, Customer.id).where(Customer.qq.in_(posted))).all())
        # Each website retry of an answered post (same key) replays the first answer; nothing new is saved.
        replays = [post(other.test_client(), qq) for qq in posted[::10]]
        after_replay = db.session.scalar(sa.select(sa.func.count()).select_from(Customer))
        db.session.rollback()
    lost = sum(1 for qq in posted if not stored[qq])
    doubled = sum(1 for qq in posted if stored[qq] > 1)
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    fault_report(items=len(posted), lost=lost, doubled=doubled, server_errors=server_errors)

    assert (lost, doubled, server_errors) == (0, 0, 0), statuses
    assert statuses == {201: len(posted)}
    assert all(rows[qq] == ids[qq] for qq in posted)  # every answer names the row that was saved
    assert after_replay == len(posted)
    assert all(r.status_code == 201 and r.headers.get("Idempotent-Replayed") == "true" for r in replays)
    # The fault hit the burst: leads went to the pool with the outage note while Redis was dead, and
    # were allocated again once it answered.
    during = [body for _qq, _status, body, sent, answered in answers
              if times["killed"] < sent and answered < times["restarting"]]
    assert len(during) >= AFTER_KILL - THREADS
    assert all(body["status"] == "pool" and body["note"].startswith("allocation is unavailable") for body in during)
    assert any(body["status"] == "assigned" for _qq, _status, body, sent, _answered in answers
               if sent > times["restarting"])
