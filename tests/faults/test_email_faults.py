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
from crm.notifications import services
from crm.notifications.models import Notification
from tests.smtp_fixtures import CollectingHandler, free_port

ROOT = Path(__file__).resolve().parents[2]
OLD_RETRY_LIMIT = 5  # the retry count that used to end every e-mail "failed" during a long SMTP outage
SWEEP_SECONDS = 2  # beat runs the sweepers this often in the fault tests (a minute in production)
CONTEXT = {"consultant_name": "李老师", "lead_name": "王五", "lead_qq": "123456", "lead_phone": None,
           "lead_email": None, "lead_source": "SEO", "received_on": "2026-03-10", "lead_url": None,
           "follow_up_days": 3}


class CeleryProcess:
    """`celery -A worker <arguments>` in its own process, configured through the environment like production."""

    def __init__(self, log_path: Path, arguments: list[str], **env):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        celery = str(Path(sys.executable).parent / "celery")
        self.process = subprocess.Popen(
            [celery, "-A", "worker", *arguments],
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


class WorkerProcess(CeleryProcess):
    """A Celery worker (one process, solo pool)."""

    def __init__(self, log_path: Path, **env):
        super().__init__(log_path, ["worker", "--pool", "solo", "--concurrency", "1", "--loglevel", "INFO",
                                    "--without-mingle", "--without-gossip", "--without-heartbeat"], **env)


class BeatProcess(CeleryProcess):
    """`celery beat`, the one scheduler: it runs the sweepers every CRM_SWEEP_SECONDS on its own."""

    def __init__(self, log_path: Path, **env):
        schedule = log_path.with_suffix(".schedule")
        super().__init__(log_path, ["beat", "--loglevel", "INFO", "--schedule", str(schedule)], **env)

    def sent(self, task: str) -> int:
        """How often beat has sent `task` so far."""
        return sum(1 for line in self.output().splitlines() if "Sending due task" in line and f"({task})" in line)


class StoppableSmtp:
    """A real SMTP server on a fixed 127.0.0.1 port that is down (nothing listening) until started."""

    def __init__(self, port: int):
        self.port = port
        self.handler = CollectingHandler()
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return list(self.handler.messages)


def worker_env(database_url: str, redis_url: str, smtp_port: int, redis_prefix: str, **extra) -> dict:
    env = {
        "CRM_ENV": "testing", "SECRET_KEY": "fault-test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url, "CRM_REDIS_PREFIX": redis_prefix, "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_TIMEOUT": "5",
        "CRM_MAIL_RETRY_BASE_SECONDS": "2", "CRM_MAIL_RETRY_MAX_SECONDS": "4",
        "CRM_SWEEP_SECONDS": str(SWEEP_SECONDS),
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


def kill_between_attempts(worker: WorkerProcess, ids: list[int], timeout: float = 15) -> None:
    """SIGKILL the worker at a moment none of the rows is being sent: freeze it (SIGSTOP), look, kill or go on.

    A worker killed in the middle of an SMTP conversation leaves its row "sending" and then "unknown"
    (at most once, shown to the admin); this fault is the other one, a worker lost between attempts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.process.send_signal(signal.SIGSTOP)
        if not statuses(ids)["sending"]:
            worker.process.kill()
            worker.process.wait(timeout=10)
            return
        worker.process.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the worker was always sending")


def delivered_per_address(smtp_server) -> collections.Counter:
    return collections.Counter(address for mail in smtp_server.messages for address in mail.rcpt_tos)


@pytest.mark.committing
def test_redis_killed_while_retries_are_pending(app, build_app, clean_database, smtp_server, private_redis,
                                                 database_url, redis_prefix, tmp_path,
                                                 fault_trial, fault_report):
    """17.1 + 17.2: SMTP fails once, Redis is killed (-9) and comes back empty while the retries wait in the
    broker; the worker process is still running and beat's sweeper (a real beat process, nothing called by
    the test) re-queues the lost retries: every e-mail is delivered exactly once."""
    smtp_server.handler.refuse_with = "451 4.3.0 try again later"
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    env = worker_env(database_url, private_redis.url, smtp_server.port, redis_prefix, CRM_MAIL_RETRY_BASE_SECONDS="3")
    worker = WorkerProcess(tmp_path / "worker.log", **env)
    beat = BeatProcess(tmp_path / "beat.log", **env)
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

            wait_for(lambda: statuses(ids)["sent"] == 5, 40, step=0.5, what="every e-mail sent")
            time.sleep(4)  # longer than any retry countdown: a late duplicate would show now
            assert worker.alive(), worker.output()[-3000:]
            assert beat.alive() and beat.sent("crm.notifications.requeue_unsent") >= 2, beat.output()[-3000:]
            assert "Unrecoverable error" not in worker.output()
            per_address = delivered_per_address(smtp_server)
            expected = [f"redis-kill-{n}@example.com" for n in range(5)]
            fault_report(items=5, lost=sum(1 for a in expected if not per_address[a]),
                         doubled=sum(1 for a in expected if per_address[a] > 1), server_errors=0)
            assert per_address == dict.fromkeys(expected, 1)
    finally:
        beat.stop()
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


@pytest.mark.committing
def test_smtp_down_longer_than_the_backoff_chain_while_the_worker_is_replaced(
        app, build_app, clean_database, private_redis, database_url, redis_prefix, tmp_path, fault_trial,
        fault_report):
    """16.2 with real processes: the mail server is down (nothing listens) far longer than the backoff chain
    (1 s doubling to its 2 s cap) and than the old retry count; meanwhile the worker is SIGKILLed, so the
    retries it held sit unacknowledged in Redis for the broker's hour. Only the sweeper, run by a real beat
    process, brings the rows back to a new worker. When SMTP returns every e-mail arrives exactly once."""
    smtp = StoppableSmtp(free_port())  # down: not started yet
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    env = worker_env(database_url, private_redis.url, smtp.port, redis_prefix,
                     CRM_MAIL_RETRY_BASE_SECONDS="1", CRM_MAIL_RETRY_MAX_SECONDS="2")
    first = WorkerProcess(tmp_path / "first.log", **env)
    beat = BeatProcess(tmp_path / "beat.log", **env)
    second = None
    try:
        with other.app_context():
            started = time.monotonic()
            ids = queue_mails(5, "night-")

            def attempts() -> dict[int, int]:
                return {status_id: count for status_id, count in zip(ids, (a for _s, a in rows(ids)), strict=True)}

            # The backoff has reached its cap (1, 2, 2 ... s): every row tried at least 3 times.
            wait_for(lambda: min(attempts().values()) >= 3, 20, what="the backoff chain at its cap")
            kill_between_attempts(first, ids)  # its scheduled retries stay unacknowledged in Redis for an hour
            at_kill = attempts()
            second = WorkerProcess(tmp_path / "second.log", **env)
            # SMTP still down: the new worker gets each row again only through beat's sweeper, and keeps
            # trying past the old retry count.
            wait_for(lambda: all(count >= max(at_kill[row] + 2, OLD_RETRY_LIMIT + 1)
                                 for row, count in attempts().items()),
                     25, step=0.5, what="sweeper retries while SMTP is still down")
            # Nothing given up, nothing sent; a row read in the middle of an attempt is "sending" for that moment.
            during = statuses(ids)
            assert set(during) <= {"queued", "sending"} and sum(during.values()) == 5, during
            outage = time.monotonic() - started
            smtp.start()
            wait_for(lambda: statuses(ids)["sent"] == 5, 20, step=0.5, what="every e-mail sent after SMTP returned")
            time.sleep(3)  # longer than any retry countdown: a late duplicate would show now
            final = attempts()
        per_address = collections.Counter(address for mail in smtp.messages for address in mail.rcpt_tos)
        expected = [f"night-{n}@example.com" for n in range(5)]
        fault_report(items=5, lost=sum(1 for a in expected if not per_address[a]),
                     doubled=sum(1 for a in expected if per_address[a] > 1), server_errors=0)
        assert per_address == dict.fromkeys(expected, 1)
        assert min(final.values()) > OLD_RETRY_LIMIT + 1  # more tries than the old retry count allowed
        assert outage > 1 + 2 * 4  # longer than the chain up to its cap, several times over
        assert beat.alive() and beat.sent("crm.notifications.requeue_unsent") >= 3, beat.output()[-3000:]
        assert second.alive(), second.output()[-3000:]
    finally:
        beat.stop()
        first.stop()
        if second is not None:
            second.stop()
        smtp.stop()
