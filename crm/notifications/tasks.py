"""Celery task that delivers one queued Notification (S-21).

The row's state lives in the database, not in the broker. A worker claims a
due queued row with one conditional UPDATE (status "sending", attempt counted,
Message-ID fixed) before the SMTP conversation, and records the outcome right
after it, retrying that write on a fresh connection; a message is sent at most
once. Temporary failures set the row back to "queued" with its next attempt
time (`CRM_MAIL_RETRY_BASE_SECONDS` * 2**n, capped by
`CRM_MAIL_RETRY_MAX_SECONDS`) for `CRM_MAIL_RETRY_WINDOW_HOURS`; the beat
sweeper re-queues every due row, so a retry lost with the broker still
happens. A permanent SMTP refusal (5xx) fails at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
import time
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from crm.core.clock import utcnow
from crm.extensions import db
from crm.notifications.models import Notification

log = logging.getLogger(__name__)


class PermanentMailError(Exception):
    """The mail server refused the message for good; retrying cannot help."""


# Kinds whose body carries a secret (the student's initial password, S-18): the body is kept only
# until the message is sent or given up, so the password is never stored for good (P-1).
SECRET_KINDS = frozenset({"student_account"})
REDACTED_BODY = "[removed after delivery: this message contained a password]"


def build_message(notification: Notification) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML) for a notification row."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = notification.to_address
    message["Date"] = formatdate(localtime=False)
    # Fixed per row at its first attempt (see _claim), so every attempt carries the same Message-ID.
    message["Message-ID"] = notification.message_id or make_msgid(idstring=f"crm-notification-{notification.id}")
    message.set_content(notification.body_text)
    if notification.body_html:
        message.add_alternative(notification.body_html, subtype="html")
    return message


@contextmanager
def smtp_session():
    """A session with MAIL_SERVER as configured (SSL, or STARTTLS, then login); ended with QUIT."""
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
        yield client
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def deliver_smtp(message: EmailMessage) -> None:
    """Send through MAIL_SERVER; a 5xx answer is a PermanentMailError (never retried)."""
    try:
        with smtp_session() as client:
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


# Database errors worth another try on a fresh connection (a restarted or failed-over server).
TRANSIENT_DB_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)
DB_RETRIES = 8  # the claim, before any SMTP: Celery retries the task this often (1, 2, 4 ... 60 s)
RECORD_TRIES = 6  # the outcome, after SMTP: retried in place, never by sending again


def lease_seconds() -> int:
    """How long a claimed ("sending") row belongs to its worker; past it the worker is taken as lost."""
    return int(current_app.config.get("MAIL_TIMEOUT", 10)) * 6 + 30


def _claim(notification_id: int) -> bool:
    """Mark a due queued row as sending, count the attempt and fix its Message-ID: one conditional UPDATE.

    Two deliveries of the same task (a redelivery, the sweeper) cannot both claim it; the row, not the
    broker, says whether it is still to be sent.
    """
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status == "queued",
               sa.or_(Notification.next_attempt_at.is_(None),
                      Notification.next_attempt_at <= now + dt.timedelta(seconds=2)))
        .values(status="sending", attempts=Notification.attempts + 1,
                next_attempt_at=now + dt.timedelta(seconds=lease_seconds()),
                message_id=sa.func.coalesce(Notification.message_id,
                                            make_msgid(idstring=f"crm-notification-{notification_id}")))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def _record(notification_id: int, values: dict) -> None:
    """Write a claimed row's outcome (only while it is still ours), retrying on a fresh connection.

    Runs after the SMTP conversation, so a dropped database connection here must never lead to a
    second send: the write is retried in place; if the database stays away, the row keeps "sending"
    and the sweeper marks it "unknown" for an admin once the lease has run out.
    """
    for attempt in range(RECORD_TRIES):
        try:
            db.session.execute(
                sa.update(Notification)
                .where(Notification.id == notification_id, Notification.status == "sending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            return
        except TRANSIENT_DB_ERRORS:
            db.session.rollback()
            if attempt == RECORD_TRIES - 1:
                raise
            log.warning("notification %s: outcome not recorded yet, database error; trying again",
                        notification_id, exc_info=True)
            time.sleep(min(0.5 * 2 ** attempt, 8))


def _final_body(notification: Notification) -> dict:
    """Body columns once the row needs no sending any more (a password body is blanked)."""
    if notification.kind in SECRET_KINDS:
        return {"body_text": REDACTED_BODY, "body_html": None}
    return {}


def _gives_up(notification: Notification) -> bool:
    """True when the retry window (or the optional retry count) is used up."""
    config = current_app.config
    window = dt.timedelta(hours=float(config["CRM_MAIL_RETRY_WINDOW_HOURS"]))
    created = notification.created_at
    if created.tzinfo is None:  # SQLite returns naive UTC
        created = created.replace(tzinfo=dt.timezone.utc)
    if utcnow() - created >= window:
        return True
    max_retries = int(config["CRM_MAIL_MAX_RETRIES"])
    return bool(max_retries) and notification.attempts > max_retries


@shared_task(bind=True, name="crm.notifications.send_email", max_retries=None, ignore_result=True)
def send_notification(self, notification_id: int) -> str:
    """Send one queued notification by id; safe to run twice, and it never sends a row twice."""
    claimed = False
    try:
        claimed = _claim(notification_id)
        if not claimed:
            notification = db.session.get(Notification, notification_id)
            db.session.rollback()
            if notification is None:
                log.warning("notification %s does not exist (rolled back?); nothing to send", notification_id)
                return "missing"
            return notification.status  # sent, failed, being sent elsewhere, or not due yet
        notification = db.session.get(Notification, notification_id)
        message = build_message(notification)
    except TRANSIENT_DB_ERRORS as error:
        db.session.rollback()
        if claimed:  # nothing was sent yet: give the row back rather than leave it "sending"
            _record(notification_id, {"status": "queued", "next_attempt_at": utcnow()})
        if self.request.called_directly or self.request.retries >= DB_RETRIES:
            raise
        log.warning("notification %s: database error before sending; retrying", notification_id)
        raise self.retry(countdown=min(2 ** self.request.retries, 60), max_retries=DB_RETRIES, exc=error) from error

    try:
        if current_app.config.get("MAIL_BACKEND") == "file":
            deliver_file(message, notification.id)
        else:
            deliver_smtp(message)
    except PermanentMailError as error:
        _record(notification_id, {"status": "failed", "last_error": str(error)[:2000], "next_attempt_at": None,
                                  **_final_body(notification)})
        log.error("notification %s refused permanently: %s", notification_id, error)
        return "failed"
    except (smtplib.SMTPException, OSError) as error:
        last_error = f"{type(error).__name__}: {error}"[:2000]
        if _gives_up(notification):
            _record(notification_id, {"status": "failed", "last_error": last_error, "next_attempt_at": None,
                                      **_final_body(notification)})
            log.error("notification %s failed after %s attempts: %s", notification_id, notification.attempts, error)
            return "failed"
        countdown = retry_countdown(notification.attempts - 1)
        # The next attempt is due at this time whatever happens to the broker: the sweeper re-queues it.
        _record(notification_id, {"status": "queued", "last_error": last_error,
                                  "next_attempt_at": utcnow() + dt.timedelta(seconds=countdown)})
        log.warning("notification %s not sent (attempt %s): %s; next attempt in %.0f s", notification_id,
                    notification.attempts, last_error, countdown)
        if self.request.called_directly:
            raise
        raise self.retry(countdown=countdown, exc=error) from error
    _record(notification_id, {"status": "sent", "sent_at": utcnow(), "last_error": None, "next_attempt_at": None,
                              **_final_body(notification)})
    log.info("notification %s sent (attempt %s)", notification_id, notification.attempts)
    return "sent"


REQUEUE_BATCH = 500


def unsent_grace() -> dt.timedelta:
    """How long a due row is left to its own retry in the broker before the sweeper re-queues it:
    two sweep intervals (CRM_SWEEP_SECONDS; two minutes by default)."""
    return dt.timedelta(seconds=2 * int(current_app.config.get("CRM_SWEEP_SECONDS", 60)))


@shared_task(name="crm.notifications.requeue_unsent", ignore_result=True)
def requeue_unsent() -> int:
    """Re-enqueue every queued row that is due (whatever its attempt count); settle rows whose sender was lost.

    The database holds each row's next attempt, so a retry that lived only in the broker (Redis
    restarted empty) is not lost. A row still "sending" past its lease lost its worker between the
    SMTP conversation and recording the outcome: it becomes "unknown", shown to the admin, never
    re-sent on its own (it may have arrived).
    """
    now = utcnow()
    db.session.execute(
        sa.update(Notification)
        .where(Notification.status == "sending", Notification.next_attempt_at < now)
        .values(status="unknown", next_attempt_at=None,
                last_error=sa.func.coalesce(Notification.last_error, "worker lost while sending"))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    cutoff = now - unsent_grace()
    due = sa.func.coalesce(Notification.next_attempt_at, Notification.created_at)
    ids = list(db.session.scalars(
        sa.select(Notification.id)
        .where(Notification.status == "queued", due < cutoff)
        .order_by(due, Notification.id)
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
