"""Admin page: e-mail that could not be delivered (failed, or unknown after a lost worker), and resending it."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import Notification

bp = Blueprint("notifications_admin", __name__, template_folder="templates")

LIST_LIMIT = 200


def register_notifications_admin(app: Flask) -> None:
    """Mount the page and add it to the Administration menu."""
    app.register_blueprint(bp, url_prefix="/admin/notifications")
    register_menu(app, "auth", _l("Administration"), 90, [
        MenuItem(_l("Undelivered e-mail"), "notifications_admin.undelivered", "notifications.manage"),
    ])


@bp.route("/", methods=["GET"])
@permission_required("notifications.manage")
def undelivered():
    """Failed and unknown messages, newest first, with the counts of what still waits."""
    rows = list(db.session.scalars(
        sa.select(Notification).where(Notification.status.in_(services.RESENDABLE))
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(LIST_LIMIT)
    ))
    counts = dict(db.session.execute(
        sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
    return render_template("notifications/undelivered.html", rows=rows, counts=counts, form=FlaskForm())


@bp.route("/<int:notification_id>/resend", methods=["POST"])
@permission_required("notifications.manage")
def resend(notification_id: int):
    """Queue a failed or unknown message again."""
    if not FlaskForm().validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return redirect(url_for("notifications_admin.undelivered"))
    try:
        notification = services.resend(current_user.id, notification_id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("notifications_admin.undelivered"))
    db.session.commit()
    flash(_("The e-mail to %(address)s is queued again.", address=notification.to_address), "success")
    return redirect(url_for("notifications_admin.undelivered"))
