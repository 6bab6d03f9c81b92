"""E-mail rows and their delivery (S-21): rendering, dedupe, SMTP, retries, idempotency."""
from __future__ import annotations

import datetime as dt
import smtplib
import time

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.notifications import services, tasks
from crm.notifications.models import Notification
from crm.sales import allocation
from crm.sales.leads import intake
from crm.sales.models import Customer, SaleRank
from tests.factories import make_user
from tests.smtp_fixtures import free_port

CONTEXT = {"consultant_name": "李老师", "lead_name": "<b>王五</b>", "lead_qq": "123456", "lead_phone": None,
           "lead_email": None, "lead_source": "SEO", "received_on": "2026-03-10", "lead_url": None,
           "follow_up_days": 3}


def queue(**overrides) -> Notification | None:
    values = dict(kind="lead_assigned", recipient_id=None, to_address="li@example.com", subject="新客户",
                  template="sales_lead_assigned", context=CONTEXT)
    values.update(overrides)
    return services.queue_email(**values)


def wait_until(predicate, timeout: float = 30.0):
    """Poll `predicate` (reading fresh rows) until it is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        db.session.rollback()
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


# -- queueing ----------------------------------------------------------------------------------
def test_queue_email_renders_text_and_escaped_html(app):
    notification = queue()
    assert notification.id and notification.status == "queued" and notification.attempts == 0
    assert "<b>王五</b>" in notification.body_text
    assert "&lt;b&gt;王五&lt;/b&gt;" in notification.body_html and "<b>王五" not in notification.body_html


def test_no_address_queues_nothing(app):
    assert queue(to_address=None) is None
    assert queue(to_address="   ") is None


def test_dedupe_key_queues_one_row(app):
    first = queue(dedupe_key="import-7-user-3")
    assert first is not None
    assert queue(dedupe_key="import-7-user-3") is None
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.dedupe_key == "import-7-user-3"))
    assert count == 1


def test_english_locale_renders_english(app):
    notification = queue(locale="en")
    assert "A new lead has been assigned to you." in notification.body_text


def test_retry_countdown_grows_and_is_capped(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_MAIL_RETRY_BASE_SECONDS", 2)
    monkeypatch.setitem(app.config, "CRM_MAIL_RETRY_MAX_SECONDS", 20)
    assert [tasks.retry_countdown(n) for n in range(6)] == [2, 4, 8, 16, 20, 20]


# -- sending, called directly (no worker) -------------------------------------------------------
def test_send_task_delivers_multipart_and_is_idempotent(app, smtp_server):
    notification = queue()
    db.session.commit()
    assert tasks.send_notification(notification.id) == "sent"
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["li@example.com"]
    assert mail.message["Subject"] == "新客户"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.message.get_body(("plain",)).get_content().count("123456") == 1
    assert "&lt;b&gt;" in mail.message.get_body(("html",)).get_content()
    db.session.refresh(notification)
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 1, None)
    assert notification.sent_at is not None
    # A second delivery of the same task sends nothing.
    assert tasks.send_notification(notification.id) == "sent"
    time.sleep(0.3)
    assert len(smtp_server.messages) == 1


def test_permanent_refusal_fails_at_once(app, smtp_server):
    smtp_server.handler.refuse_with = "550 5.1.1 mailbox unavailable"
    notification = queue()
    db.session.commit()
    assert tasks.send_notification(notification.id) == "failed"
    db.session.refresh(notification)
    assert notification.status == "failed" and "550" in notification.last_error and notification.attempts == 1


def test_unreachable_server_records_the_error_and_asks_for_a_retry(app):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_BACKEND="smtp")
    notification = queue()
    db.session.commit()
    with pytest.raises(OSError):  # called directly, Celery's retry re-raises the cause
        tasks.send_notification(notification.id)
    db.session.refresh(notification)
    assert notification.status == "queued" and notification.attempts == 1
    assert "ConnectionRefusedError" in notification.last_error


def test_file_backend_writes_eml_files(app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    notification = queue()
    db.session.commit()
    assert tasks.send_notification(notification.id) == "sent"
    [path] = list((tmp_path / "mail").glob("*.eml"))
    content = path.read_bytes()
    assert b"li@example.com" in content and b"multipart/alternative" in content


def test_missing_row_is_not_an_error(app):
    assert tasks.send_notification(987654321) == "missing"


def test_dispatch_survives_a_broker_outage(app, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.send_notification, "apply_async", down)
    tasks.dispatch([1, 2])  # logged, not raised: the lead is already committed


def test_requeue_unsent_picks_every_due_row_whatever_its_attempts(app, monkeypatch):
    """17.2: the sweeper reads the next attempt from the row, so a retry lost with the broker still happens."""
    sent_ids = []
    monkeypatch.setattr(tasks, "dispatch", lambda ids: sent_ids.extend(ids))
    hour_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    old = queue()
    old.created_at = old.next_attempt_at = hour_ago
    tried = queue()
    tried.created_at, tried.next_attempt_at, tried.attempts = hour_ago, hour_ago, 2
    later = queue()
    later.created_at, later.attempts = hour_ago, 1
    later.next_attempt_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    fresh = queue()
    lost = queue()
    lost.status, lost.attempts, lost.next_attempt_at = "sending", 1, hour_ago
    busy = queue()
    busy.status, busy.attempts = "sending", 1
    busy.next_attempt_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    db.session.commit()
    sent_ids.clear()
    assert tasks.requeue_unsent() >= 2
    assert old.id in sent_ids and tried.id in sent_ids
    assert not {later.id, fresh.id, lost.id, busy.id} & set(sent_ids)
    db.session.expire_all()
    # A worker lost between SMTP and recording the outcome: "unknown", never re-sent on its own.
    assert db.session.get(Notification, lost.id).status == "unknown"
    assert db.session.get(Notification, busy.id).status == "sending"


def test_a_claimed_row_is_not_sent_by_a_second_delivery(app, smtp_server):
    notification = queue()
    db.session.commit()
    assert tasks._claim(notification.id)
    assert not tasks._claim(notification.id)  # a redelivery or the sweeper's copy finds it taken
    assert tasks.send_notification(notification.id) == "sending"
    time.sleep(0.3)
    assert smtp_server.messages == []


def test_every_attempt_carries_the_same_message_id(app, smtp_server):
    smtp_server.handler.refuse_with = "451 4.3.0 try again later"
    notification = queue()
    db.session.commit()
    with pytest.raises(smtplib.SMTPResponseException):
        tasks.send_notification(notification.id)
    db.session.expire_all()
    row = db.session.get(Notification, notification.id)
    first_id, row.next_attempt_at = row.message_id, None
    db.session.commit()
    assert first_id and row.status == "queued"
    smtp_server.handler.refuse_with = None
    assert tasks.send_notification(notification.id) == "sent"
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Message-ID"].strip() == first_id


def test_a_long_outage_keeps_retrying_until_the_window_ends(app, monkeypatch):
    """16.2: no count limit by default; the row fails only once CRM_MAIL_RETRY_WINDOW_HOURS has passed."""
    monkeypatch.setitem(app.config, "CRM_MAIL_MAX_RETRIES", 0)
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    notification = queue()
    notification.attempts = 40
    db.session.commit()
    with pytest.raises(OSError):
        tasks.send_notification(notification.id)
    db.session.expire_all()
    row = db.session.get(Notification, notification.id)
    assert row.status == "queued" and row.next_attempt_at is not None
    row.created_at = row.next_attempt_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=25)
    db.session.commit()
    assert tasks.send_notification(notification.id) == "failed"


# -- through a real worker on real Redis --------------------------------------------------------
def _consultant_and_lead(app, qq: str):
    """Commit a consultant and an intake lead; returns (consultant email, notification ids)."""
    with app.app_context():
        allocation.reset_state()
        user = make_user("consultant", email=f"c{qq}@example.com")
        db.session.add(SaleRank(user_id=user.id, weight=1, num=1))
        db.session.commit()
        result = intake.create_lead(None, {"qq": qq, "name": "赵六", "gender": 2, "source": 3}, channel="form",
                                    today=dt.date(2026, 3, 10))
        db.session.commit()  # the send task is queued by this commit (crm.core.uow)
        return user.email, result.notification_ids


@pytest.mark.committing
def test_assignment_email_reaches_the_smtp_server_through_the_worker(app, smtp_server, celery_worker,
                                                                      clean_database):
    address, [notification_id] = _consultant_and_lead(app, "700001")
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == [address] and "赵六" in mail.message["Subject"]
    with app.app_context():
        notification = wait_until(lambda: db.session.get(Notification, notification_id).status == "sent"
                                  and db.session.get(Notification, notification_id))
        assert notification.attempts == 1
        allocation.reset_state()


@pytest.mark.committing
def test_smtp_outage_keeps_the_lead_retries_then_marks_failed(app, celery_worker, clean_database, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nothing listens: connection refused
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "CRM_MAIL_RETRY_BASE_SECONDS", 0.05)
    monkeypatch.setitem(app.config, "CRM_MAIL_MAX_RETRIES", 3)
    _address, [notification_id] = _consultant_and_lead(app, "700002")
    with app.app_context():
        assert db.session.scalar(sa.select(Customer).where(Customer.qq == "700002")) is not None
        notification = wait_until(lambda: db.session.get(Notification, notification_id).status == "failed"
                                  and db.session.get(Notification, notification_id))
        assert notification.attempts == 4  # the first try and 3 retries
        assert "ConnectionRefusedError" in notification.last_error
        allocation.reset_state()


def test_a_password_mail_keeps_its_body_only_until_it_is_sent(app, smtp_server):
    """P-1: the student's initial password reaches the mailbox but is not kept in the notifications table."""
    secret = "Init1alPassw0rd"
    notification = services.queue_email(
        kind="student_account", recipient_id=None, to_address="new.student@example.com", subject="账号",
        template="sales_student_account", context={"name": "王五", "username": "123456", "password": secret},
    )
    db.session.commit()
    assert secret in notification.body_text  # queued: still needed for the delivery
    assert tasks.send_notification(notification.id) == "sent"
    [mail] = smtp_server.wait_for(1)
    assert secret in mail.message.get_body(("plain",)).get_content()
    db.session.refresh(notification)
    assert secret not in (notification.body_text or "") and secret not in (notification.body_html or "")
    assert notification.body_text == tasks.REDACTED_BODY


def test_a_database_error_after_the_claim_gives_the_row_back(app, monkeypatch):
    """17.3: nothing was sent yet, so the row goes back to "queued" (not left "sending" to end as unknown)."""
    notification = queue()
    db.session.commit()

    def connection_lost(_notification):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(tasks, "build_message", connection_lost)
    with pytest.raises(sa.exc.OperationalError):
        tasks.send_notification(notification.id)
    db.session.expire_all()
    row = db.session.get(Notification, notification.id)
    assert (row.status, row.attempts) == ("queued", 1)
