"""Excel import with real workers: SIGKILL mid-file and restart, concurrent imports, e-mails (S-9, S-6, S-21).

These tests commit for real (`committing` + `clean_database`).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.celery_app import queue_keys
from crm.extensions import db
from crm.sales import allocation
from crm.sales.imports.tasks import import_leads_task, run_import
from crm.sales.models import Customer, CustomerDistribution, ImportJob, ImportRowError, SaleRank
from tests.conftest import make_test_config
from tests.factories import login, make_user
from tests.sales.import_support import lead_row, new_job, next_qq

pytestmark = [pytest.mark.committing, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# A real `celery worker` process for the app described by CRM_TEST_APP_CONFIG.
WORKER_CODE = """
import json, os, sys
from crm import create_app
app = create_app(json.loads(os.environ["CRM_TEST_APP_CONFIG"]))
celery = app.extensions["celery"]
celery.worker_main(["worker", "--pool=solo", "--concurrency=1", "-Q", sys.argv[1], "--loglevel=WARNING",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", sys.argv[2]])
"""


@pytest.fixture
def import_dir(app, tmp_path, monkeypatch):
    """A scratch import folder shared with the workers."""
    folder = tmp_path / "imports"
    monkeypatch.setitem(app.config, "CRM_IMPORT_DIR", str(folder))
    return folder


@pytest.fixture
def fresh_allocation(app):
    """No allocation queue left over from other tests."""
    with app.app_context():
        allocation.reset_state()
    yield
    with app.app_context():
        allocation.reset_state()


def add_consultants(app, *weights_nums) -> list[int]:
    """Committed consultants in the allocation table."""
    with app.app_context():
        ids = []
        for weight, num in weights_nums:
            user = make_user("consultant", email=f"consultant{weight}x{num}@example.com")
            db.session.add(SaleRank(user_id=user.id, weight=weight, num=num))
            ids.append(user.id)
        db.session.commit()
        allocation.mark_table_changed()
        return ids


def job_state(app, job_id: int) -> ImportJob:
    """A fresh read of the job."""
    with app.app_context():
        job = db.session.get(ImportJob, job_id)
        db.session.expunge(job)
        return job


def counts(app) -> dict:
    """Row counts of what an import writes."""
    with app.app_context():
        def count(model):
            return db.session.scalar(sa.select(sa.func.count()).select_from(model))

        distinct_qq = db.session.scalar(sa.select(sa.func.count(sa.distinct(Customer.qq))))
        return {"customers": count(Customer), "distinct_qq": distinct_qq, "history": count(CustomerDistribution),
                "errors": count(ImportRowError)}


def wait_until(predicate, timeout: float, message):
    """Poll until predicate() is truthy; `message` may be a callable (evaluated on failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message() if callable(message) else message)


def test_worker_killed_mid_import_and_restarted_finishes_exactly(
        app, clean_database, import_dir, fresh_allocation, database_url, redis_url, redis_prefix, redis_client):
    add_consultants(app, (7, 2), (5, 3))
    rows = [lead_row(name=f"学员{i}") for i in range(150)]
    rows += [lead_row(gender="?") for _ in range(10)]  # invalid
    rows += [lead_row(qq=rows[i]["qq"]) for i in range(10)]  # repeated in the file, originals before the kill
    with app.app_context():
        job = new_job(import_dir.parent, rows)
        job_id = job.id
    queue = f"{redis_prefix}-import-kill"
    # Kombu keeps unacknowledged messages in Redis keys of its own; keys of this test only, and a short
    # visibility timeout, so the restarted worker redelivers the killed worker's message at start-up.
    transport = {"visibility_timeout": 2, "unacked_key": f"{queue}:unacked",
                 "unacked_index_key": f"{queue}:unacked_index", "unacked_mutex_key": f"{queue}:unacked_mutex"}
    config = make_test_config(
        database_url, redis_url, redis_prefix, CRM_IMPORT_DIR=str(import_dir), CRM_IMPORT_BATCH_SIZE=5,
        CRM_IMPORT_BATCH_PAUSE_MS=100,
        CELERY_OVERRIDES={"task_default_queue": queue, "broker_transport_options": transport},
    )
    env = dict(os.environ, CRM_TEST_APP_CONFIG=json.dumps(config), CRM_ENV="testing")

    def log_of(name: str) -> str:
        return (import_dir.parent / f"{name}.log").read_text(errors="replace")[-3000:]

    def start_worker(name: str) -> subprocess.Popen:
        # Output goes to a file: an unread pipe would fill up and stall the worker. The child
        # keeps its own copy of the descriptor, so ours is closed at once.
        with (import_dir.parent / f"{name}.log").open("wb") as log_file:
            return subprocess.Popen([sys.executable, "-c", WORKER_CODE, queue, f"{name}@{queue}"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)

    first = start_worker("first")
    second = None
    try:
        import_leads_task.apply_async(args=[job_id], queue=queue)
        wait_until(lambda: job_state(app, job_id).processed_rows >= 40, 60,
                   lambda: "the first worker never got going: " + log_of("first"))
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = job_state(app, job_id)
        assert killed_at.status == "running"
        assert 40 <= killed_at.processed_rows < len(rows), "the kill must land mid-file"
        assert counts(app)["customers"] == killed_at.imported  # a batch boundary: nothing half-written
        time.sleep(2.5)  # past the visibility timeout
        second = start_worker("second")
        wait_until(lambda: job_state(app, job_id).status != "running", 120,
                   lambda: "the restarted worker did not finish: " + log_of("second"))
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        redis_client.delete(*queue_keys(redis_client, queue))
    job = job_state(app, job_id)
    assert (job.status, job.processed_rows, job.total_rows) == ("done", 170, 170)
    assert (job.imported, job.invalid, job.duplicates, job.unassigned) == (150, 10, 10, 0)
    assert counts(app) == {"customers": 150, "distinct_qq": 150, "history": 150, "errors": 20}
    with app.app_context():
        reasons = dict(db.session.execute(sa.select(ImportRowError.row_number, ImportRowError.kind)
                                          .where(ImportRowError.job_id == job_id)).all())
    assert sorted(n for n, kind in reasons.items() if kind == "duplicate") == list(range(162, 172))


def test_concurrent_overlapping_imports_import_each_qq_once(app, clean_database, import_dir, fresh_allocation,
                                                             monkeypatch):
    add_consultants(app, (5, 1), (3, 1))
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 10)
    shared = [next_qq() for _ in range(120)]
    only_a = [next_qq() for _ in range(40)]
    only_b = [next_qq() for _ in range(40)]
    with app.app_context():
        job_a = new_job(import_dir.parent, [lead_row(qq=q) for q in shared + only_a], name="a.xlsx").id
        job_b = new_job(import_dir.parent, [lead_row(qq=q) for q in only_b + shared], name="b.xlsx").id
    barrier = threading.Barrier(2)
    failures = []

    def run(job_id):
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                run_import(job_id)
                db.session.remove()
        except BaseException as error:  # reported to the test thread
            failures.append(repr(error))

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in (job_a, job_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    a, b = job_state(app, job_a), job_state(app, job_b)
    assert (a.status, b.status) == ("done", "done")
    assert a.imported + b.imported == 200
    assert a.duplicates + b.duplicates == 120
    assert (a.invalid, b.invalid) == (0, 0)
    assert counts(app) == {"customers": 200, "distinct_qq": 200, "history": 200, "errors": 120}


def test_upload_to_worker_to_one_summary_email_per_consultant(
        app, clean_database, import_dir, fresh_allocation, celery_worker, smtp_server):
    first, second = add_consultants(app, (5, 2), (3, 1))
    with app.app_context():
        importer = make_user("staff").username
    client = app.test_client()
    login(client, importer)
    from tests.sales.import_support import upload_and_confirm, workbook_bytes

    rows = [lead_row(name=f"客户{i}") for i in range(6)] + [lead_row(gender="?")]
    response = upload_and_confirm(client, workbook_bytes(rows), "mail.xlsx")
    assert response.status_code == 302
    with app.app_context():
        job_id = db.session.scalar(sa.select(ImportJob.id))
    wait_until(lambda: job_state(app, job_id).status == "done", 60, "the worker did not finish the import")
    messages = smtp_server.wait_for(2)
    time.sleep(1.0)  # a third message would arrive by now
    messages = smtp_server.messages
    assert len(messages) == 2
    with app.app_context():
        addresses = {db.session.get(User, uid).email: uid for uid in (first, second)}
    received = sorted(m.rcpt_tos[0] for m in messages)
    assert received == sorted(addresses)
    by_address = {m.rcpt_tos[0]: m.message for m in messages}
    text_a = by_address[next(k for k, v in addresses.items() if v == first)].get_body(("plain",)).get_content()
    # The cycle is A B A: A gets rows 0, 2, 3, 5 and B rows 1, 4.
    assert [f"- 客户{i}" in text_a for i in range(6)] == [True, False, True, True, False, True]
    job = job_state(app, job_id)
    assert (job.imported, job.invalid) == (6, 1)
    # A second delivery of the same task finds the job done and sends nothing more.
    import_leads_task.delay(job_id)
    time.sleep(1.5)
    assert len(smtp_server.messages) == 2
