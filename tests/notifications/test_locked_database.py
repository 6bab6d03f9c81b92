"""S-21 on SQLite: a worker that finds the database locked retries at once instead of leaving
the e-mail to the 10-minute sweeper."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from crm.extensions import db
from crm.notifications import tasks
from crm.notifications.models import Notification
from crm.notifications.services import render_email


def _sqlite_file(app) -> str:
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite's lock upgrade; PostgreSQL has row locks")
    return url.database


def _queued_row(app) -> int:
    """A queued e-mail committed without handing it to the worker yet."""
    text, html = render_email("sales_student_account", {"name": "王五", "username": "u1", "password": "x"})
    with app.app_context():
        row = Notification(kind="test", to_address="locked@example.com", subject="锁", body_text=text,
                           body_html=html, status="queued", attempts=0)
        db.session.add(row)
        db.session.commit()
        return row.id


def _hold_write_lock(path: str, seconds: float, started: threading.Event) -> None:
    """Another writer: holds SQLite's RESERVED lock (BEGIN IMMEDIATE) for a while."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=5)
    connection.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    connection.execute("ROLLBACK")
    connection.close()


@pytest.mark.committing
def test_a_send_that_meets_a_locked_database_is_delivered_within_seconds(
        app, clean_database, celery_worker, smtp_server):
    path = _sqlite_file(app)
    with app.app_context():
        notification_id = _queued_row(app)
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, started))
    holder.start()
    started.wait(5)
    began = time.monotonic()
    tasks.send_notification.delay(notification_id)
    [mail] = smtp_server.wait_for(1, timeout=15)
    assert time.monotonic() - began < 15
    assert mail.rcpt_tos == ["locked@example.com"]
    holder.join(10)
    with app.app_context():
        deadline = time.monotonic() + 10
        while db.session.get(Notification, notification_id).status != "sent":
            db.session.rollback()
            assert time.monotonic() < deadline, "the row was not marked sent"
            time.sleep(0.1)
        assert db.session.get(Notification, notification_id).attempts == 1
