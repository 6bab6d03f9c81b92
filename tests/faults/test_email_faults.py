"""Fault tests with real processes (S-21, §6 Faults): a real Celery worker process, a Redis of the test's own,
a real SMTP server, PostgreSQL connections terminated under the worker. Every e-mail arrives exactly once.

Each test is bounded (well under a minute); everything listens on 127.0.0.1 only.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.notifications import services, tasks
from crm.notifications.models import Notification

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = {"consultant_name": "李老师", "lead_name": "王五", "lead_qq": "123456", "lead_phone": None,
           "lead_email": None, "lead_source": "SEO", "received_on": "2026-03-10", "lead_url": None,
           "follow_up_days": 3}


class WorkerProcess:
    """`celery -A worker worker` in its own process, configured through the environment like production."""

    def __init__(self, log_path: Path, **env):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        celery = str(Path(sys.executable).parent / "celery")
        self.process = subprocess.Popen(
            [celery, "-A", "worker", "worker", "--pool", "solo", "--concurrency", "1", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def worker_env(database_url: str, redis_url: str, smtp_port: int, redis_prefix: str, **extra) -> dict:
    env = {
        "CRM_ENV": "testing", "SECRET_KEY": "fault-test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url, "CRM_REDIS_PREFIX": f"{redis_prefix}-fault", "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_TIMEOUT": "5",
        "CRM_MAIL_RETRY_BASE_SECONDS": "2", "CRM_MAIL_RETRY_MAX_SECONDS": "4",
    }
    env.update(extra)
    return env


def queue_mails(count: int, tag: str) -> list[int]:
    ids = []
    for n in range(count):
        notification = services.queue_email(
            kind="lead_assigned", recipient_id=None, to_address=f"{tag}{n}@example.com", subject=f"新客户 {n}",
            template="sales_lead_assigned", context=CONTEXT)
        ids.append(notification.id)
    db.session.commit()  # each send task is handed to the broker by this commit
    return ids


def rows(ids: list[int]) -> list[tuple[str, int]]:
    """(status, attempts) of the rows, read in a transaction that ends at once (SQLite: no lock kept)."""
    db.session.expire_all()
    result = list(db.session.execute(
        sa.select(Notification.status, Notification.attempts).where(Notification.id.in_(ids))))
    db.session.rollback()
    return result


def statuses(ids: list[int]) -> collections.Counter:
    return collections.Counter(status for status, _attempts in rows(ids))


def wait_for(predicate, timeout: float, step: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"{what} not reached within {timeout} s")


def delivered_per_address(smtp_server) -> collections.Counter:
    return collections.Counter(address for mail in smtp_server.messages for address in mail.rcpt_tos)


@pytest.mark.committing
def test_redis_killed_while_retries_are_pending(app, build_app, clean_database, smtp_server, private_redis,
                                                 database_url, redis_prefix, tmp_path, monkeypatch,
                                                 fault_trial, fault_report):
    """17.1 + 17.2: SMTP fails once, Redis is killed (-9) and comes back empty while the retries wait in the
    broker; the worker process is still running and every e-mail is delivered exactly once."""
    smtp_server.handler.refuse_with = "451 4.3.0 try again later"
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    worker = WorkerProcess(tmp_path / "worker.log",
                           **worker_env(database_url, private_redis.url, smtp_server.port, redis_prefix,
                                        CRM_MAIL_RETRY_BASE_SECONDS="3"))
    monkeypatch.setattr(tasks, "UNSENT_GRACE", tasks.dt.timedelta(0))
    try:
        with other.app_context():
            ids = queue_mails(5, "redis-kill-")
            # Every row tried once and waiting for its retry, which lives in the broker.
            wait_for(lambda: [status for status, attempts in rows(ids) if status == "queued" and attempts >= 1]
                     == ["queued"] * 5, 30, what="first attempts")
            private_redis.kill()
            time.sleep(1.0)
            private_redis.start()  # empty: the pending retries are gone with it
            smtp_server.handler.refuse_with = None

            def all_sent():
                tasks.requeue_unsent()  # what beat runs every minute
                return statuses(ids)["sent"] == 5

            wait_for(all_sent, 40, step=1.0, what="every e-mail sent")
            time.sleep(4)  # longer than any retry countdown: a late duplicate would show now
            assert worker.alive(), worker.output()[-3000:]
            assert "Unrecoverable error" not in worker.output()
            per_address = delivered_per_address(smtp_server)
            expected = [f"redis-kill-{n}@example.com" for n in range(5)]
            fault_report(items=5, lost=sum(1 for a in expected if not per_address[a]),
                         doubled=sum(1 for a in expected if per_address[a] > 1), server_errors=0)
            assert per_address == dict.fromkeys(expected, 1)
    finally:
        worker.stop()


@pytest.mark.committing
def test_database_connections_terminated_while_sending(app, build_app, clean_database, smtp_server, private_redis,
                                                        database_url, redis_prefix, tmp_path,
                                                        fault_trial, fault_report):
    """17.3 + 16.4: pg_terminate_backend on the worker's connections during a run of slow SMTP conversations;
    every e-mail arrives exactly once and every row ends sent."""
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend needs PostgreSQL (make test-pg)")
    smtp_server.handler.delay_seconds = 0.4
    name = "crm-fault-worker"
    separator = "&" if "?" in database_url else "?"
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    worker = WorkerProcess(tmp_path / "worker.log",
                           **worker_env(f"{database_url}{separator}application_name={name}", private_redis.url,
                                        smtp_server.port, redis_prefix))
    stop = threading.Event()
    terminated = []

    def terminate_the_workers_connections():
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            while not stop.wait(0.7):
                with engine.begin() as conn:
                    terminated.extend(conn.execute(sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
                    ), {"name": name}).scalars())
        finally:
            engine.dispose()

    killer = threading.Thread(target=terminate_the_workers_connections, daemon=True)
    try:
        with other.app_context():
            ids = queue_mails(12, "pg-kill-")
            killer.start()
            wait_for(lambda: statuses(ids)["sent"] == 12, 45, step=0.5, what="every e-mail sent")
            stop.set()
            killer.join(timeout=10)
            time.sleep(1)
            assert any(terminated), "no connection was terminated: the test did not inject the fault"
            assert worker.alive(), worker.output()[-3000:]
            per_address = delivered_per_address(smtp_server)
            expected = [f"pg-kill-{n}@example.com" for n in range(12)]
            fault_report(items=12, lost=sum(1 for a in expected if not per_address[a]),
                         doubled=sum(1 for a in expected if per_address[a] > 1), server_errors=0)
            assert per_address == dict.fromkeys(expected, 1)
    finally:
        stop.set()
        worker.stop()
