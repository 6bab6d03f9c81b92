"""Queue e-mail as Notification rows and hand them to Celery after commit (S-21)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from crm.core import uow
from crm.core.clock import utcnow
from crm.extensions import conflict_insert, db
from crm.notifications.models import Notification


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render notifications/email/<template>.txt and .html; HTML is autoescaped.

    Each area keeps its messages beside its pages: `crm/<area>/templates/notifications/email/`
    named `<area>_<what>.txt/.html` (the blueprint's template folder is on the app's loader).
    """
    env = current_app.jinja_env
    context = {**context, "config": current_app.config}
    text = env.get_template(f"notifications/email/{template}.txt").render(context)
    html = env.get_template(f"notifications/email/{template}.html").render(context)
    return text, html


def queue_email(*, kind: str, recipient_id: int | None, to_address: str | None, subject: Any, template: str,
                context: dict[str, Any], dedupe_key: str | None = None,
                locale: str | None = None) -> Notification | None:
    """Render and add a queued Notification (flush); None without an address or for a repeated dedupe_key."""
    if not to_address or not to_address.strip():
        return None
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        text, html = render_email(template, context)
        subject_text = " ".join(str(subject).split())[:255]
    values = dict(kind=kind, recipient_id=recipient_id, to_address=to_address.strip(), subject=subject_text,
                  body_text=text, body_html=html, status="queued", attempts=0, next_attempt_at=utcnow())
    if dedupe_key is None:
        notification = Notification(**values)
        db.session.add(notification)
        db.session.flush()
        _send_after_commit(notification.id)
        return notification
    # One row per dedupe_key, settled by the unique constraint (a conditional insert, no pre-check).
    db.session.flush()
    statement = (
        conflict_insert(Notification)
        .values(dedupe_key=dedupe_key, created_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification)  # the new row comes back as the object itself: no second SELECT
    )
    notification = db.session.scalar(statement)
    if notification is None:
        return None
    _send_after_commit(notification.id)
    return notification


def _send_after_commit(notification_id: int) -> None:
    """Hand the row to Celery once it is committed; if the transaction fails there is nothing to send."""
    from crm.notifications.tasks import dispatch

    uow.after_commit(lambda: dispatch([notification_id]))


# States an admin may send again: given up (failed) or lost between SMTP and recording it (unknown).
RESENDABLE = ("failed", "unknown")


def resend(actor_id: int | None, notification_id: int) -> Notification:
    """Put a failed or unknown message back in the queue (one conditional UPDATE; sent after commit).

    Its queueing time becomes now, so the retry window (CRM_MAIL_RETRY_WINDOW_HOURS) starts again.
    """
    from crm.core import audit
    from crm.core.errors import Conflict, NotFound
    from crm.notifications.tasks import REDACTED_BODY

    notification = db.session.get(Notification, notification_id)
    if notification is None:
        raise NotFound(_("This e-mail does not exist."))
    if notification.body_text == REDACTED_BODY:
        raise Conflict(_("This e-mail contained a password that is no longer stored; it cannot be sent again."))
    changed = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_(RESENDABLE))
        .values(status="queued", next_attempt_at=utcnow(), created_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise Conflict(_("This e-mail is not failed any more; it was not queued again."))
    audit.record(actor_id, "notification.resend", "notification", notification_id)
    db.session.flush()
    db.session.refresh(notification)
    _send_after_commit(notification_id)
    return notification
