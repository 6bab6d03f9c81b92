"""Celery task that delivers one queued Notification (S-21).

Delivery is at-least-once and idempotent per row: a sent row is never sent
again, a short Redis lease keeps two deliveries of the same task from sending
at the same time, and every attempt is counted in the row before the SMTP
conversation starts. Temporary failures retry with exponential backoff
(`CRM_MAIL_RETRY_BASE_SECONDS` * 2**n, capped by `CRM_MAIL_RETRY_MAX_SECONDS`)
up to `CRM_MAIL_MAX_RETRIES` times; then the row is marked failed. A
permanent SMTP refusal (5xx) fails at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from crm.core.clock import utcnow
from crm.core.transient import retry_transient
from crm.extensions import db, redis
from crm.notifications.models import Notification

log = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 5


class PermanentMailError(Exception):
    """The mail server refused the message for good; retrying cannot help."""


# Kinds whose body carries a secret (the student's initial password, S-18): the body is kept only
# until the message is sent or given up, so the password is never stored for good (P-1).
SECRET_KINDS = frozenset({"student_account"})
REDACTED_BODY = "[removed after delivery: this message contained a password]"


def forget_secret_body(notification: Notification) -> None:
    """Blank the body of a message that carried a password once it no longer needs sending."""
    if notification.kind in SECRET_KINDS:
        notification.body_text = REDACTED_BODY
        notification.body_html = None


def build_message(notification: Notification) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML) for a notification row."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = notification.to_address
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"crm-notification-{notification.id}")
    message.set_content(notification.body_text)
    if notification.body_html:
        message.add_alternative(notification.body_html, subtype="html")
    return message


def deliver_smtp(message: EmailMessage) -> None:
    """Send through MAIL_SERVER with the configured TLS/SSL and login."""
    config = current_app.config
    host, port, timeout = config["MAIL_SERVER"], int(config["MAIL_PORT"]), config.get("MAIL_TIMEOUT", 10)
    if config.get("MAIL_USE_SSL"):
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
            client.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        client.send_message(message)
    except smtplib.SMTPResponseException as error:
        if 500 <= error.smtp_code < 600:
            raise PermanentMailError(f"{error.smtp_code} {error.smtp_error!r}") from error
        raise
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _text in error.recipients.values()]
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentMailError(f"recipients refused: {error.recipients!r}") from error
        raise
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def deliver_file(message: EmailMessage, notification_id: int) -> Path:
    """Development: write the message to instance/mail/<id>-<time>.eml for a person to read."""
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{utcnow():%Y%m%dT%H%M%S}-{notification_id}.eml"
    path.write_bytes(bytes(message))
    log.info("e-mail %s written to %s", notification_id, path)
    return path


def retry_countdown(retries: int) -> float:
    """Seconds before retry number `retries` + 1: base * 2**retries, capped."""
    config = current_app.config
    base = float(config["CRM_MAIL_RETRY_BASE_SECONDS"])
    cap = float(config["CRM_MAIL_RETRY_MAX_SECONDS"])
    return min(base * (2 ** retries), cap)


@shared_task(bind=True, name="crm.notifications.send_email", max_retries=DEFAULT_MAX_RETRIES, ignore_result=True)
def send_notification(self, notification_id: int) -> str:
    """Send one queued notification by id; safe to run twice."""
    lease = redis.key("notification", "sending", notification_id)
    lease_seconds = int(current_app.config.get("MAIL_TIMEOUT", 10)) * 6 + 30
    if not redis.client.set(lease, self.request.id or "1", nx=True, ex=lease_seconds):
        # Another delivery of this row is sending right now; look again once its lease ran out
        # (it will then be sent, and this run ends at once, or still queued, and this run sends it).
        send_notification.apply_async(args=[notification_id], countdown=lease_seconds)
        return "busy"
    try:
        claimed = retry_transient(lambda: _count_attempt(notification_id))
        if claimed is not None:
            return claimed  # missing, or sent / given up already: never send twice
        notification = db.session.get(Notification, notification_id)
        message = build_message(notification)
        backend = current_app.config.get("MAIL_BACKEND")
        db.session.rollback()  # no read transaction stays open while the mail server talks

        max_retries = int(current_app.config["CRM_MAIL_MAX_RETRIES"])
        try:
            if backend == "file":
                deliver_file(message, notification_id)
            else:
                deliver_smtp(message)
        except PermanentMailError as error:
            refusal = str(error)[:2000]
            retry_transient(lambda: _finish(notification_id, "failed", refusal))
            log.error("notification %s refused permanently: %s", notification_id, error)
            return "failed"
        except (smtplib.SMTPException, OSError) as error:
            last_error = f"{type(error).__name__}: {error}"[:2000]
            if self.request.retries >= max_retries:
                attempts = retry_transient(lambda: _finish(notification_id, "failed", last_error))
                log.error("notification %s failed after %s attempts: %s", notification_id, attempts, error)
                return "failed"
            retry_transient(lambda: _finish(notification_id, "queued", last_error))
            redis.client.delete(lease)
            raise self.retry(countdown=retry_countdown(self.request.retries), max_retries=max_retries,
                             exc=error)
        retry_transient(lambda: _finish(notification_id, "sent", None))
        return "sent"
    finally:
        redis.client.delete(lease)


def _count_attempt(notification_id: int) -> str | None:
    """Count this attempt on a queued row and commit; else the row's status (or "missing").

    The conditional UPDATE is the transaction's first statement, so on SQLite it waits for the
    write lock (busy timeout) instead of failing as a read lock's upgrade would.
    """
    counted = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status == "queued")
        .values(attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted == 1:
        db.session.commit()  # the attempt counts even if this worker dies mid-conversation
        return None
    status = db.session.scalar(sa.select(Notification.status).where(Notification.id == notification_id))
    db.session.rollback()
    if status is None:
        log.warning("notification %s does not exist (rolled back?); nothing to send", notification_id)
        return "missing"
    return status


def _finish(notification_id: int, status: str, last_error: str | None) -> int:
    """Record the outcome of an attempt and commit; returns the attempts so far."""
    notification = db.session.get(Notification, notification_id, populate_existing=True)
    notification.status, notification.last_error = status, last_error
    if status == "sent":
        notification.sent_at = utcnow()
    if status != "queued":
        forget_secret_body(notification)
    attempts = notification.attempts
    db.session.commit()
    return attempts


UNSENT_GRACE = dt.timedelta(minutes=10)
REQUEUE_BATCH = 500


@shared_task(name="crm.notifications.requeue_unsent", ignore_result=True)
def requeue_unsent() -> int:
    """Re-enqueue e-mail rows never attempted 10+ minutes after they were queued (broker was down)."""

    cutoff = utcnow() - UNSENT_GRACE
    ids = list(db.session.scalars(
        sa.select(Notification.id)
        .where(Notification.status == "queued", Notification.attempts == 0, Notification.created_at < cutoff)
        .order_by(Notification.id)
        .limit(REQUEUE_BATCH)
    ))
    db.session.rollback()
    dispatch(ids)
    return len(ids)


def dispatch(notification_ids: list[int]) -> None:
    """Enqueue the send task for committed rows; a broker outage is logged, never raised.

    queue_email registers this to run after the commit; the sweeper calls it for rows left behind.
    """
    for notification_id in notification_ids:
        try:
            send_notification.apply_async(
                args=[int(notification_id)],
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
            )
        except Exception:  # noqa: BLE001 - kombu raises many kinds; the row stays queued for the sweeper
            log.warning("could not enqueue notification %s; it stays queued", notification_id, exc_info=True)
