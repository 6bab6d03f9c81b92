"""Admin pages for API tokens: list, create (the token is shown once), deactivate."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.api import services
from crm.api.forms import ConfirmForm, TokenForm
from crm.api.models import ApiToken
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db

admin_bp = Blueprint("api_tokens", __name__, template_folder="templates")


def register_api_admin(app: Flask) -> None:
    """Mount the token pages and add them to the Administration menu."""
    app.register_blueprint(admin_bp, url_prefix="/admin/api-tokens")
    register_menu(app, "auth", _l("Administration"), 90, [
        MenuItem(_l("API tokens"), "api_tokens.token_list", "api.token.manage"),
    ])


def _render_list(form: TokenForm, status: int = 200):
    tokens = list(db.session.scalars(
        sa.select(ApiToken).options(joinedload(ApiToken.created_by))
        .order_by(ApiToken.active.desc(), ApiToken.created_at.desc(), ApiToken.id.desc())
    ))
    return render_template("api/tokens.html", tokens=tokens, form=form, confirm=ConfirmForm()), status


@admin_bp.route("/", methods=["GET"])
@permission_required("api.token.manage")
def token_list():
    """Every API token with its state and last use."""
    return _render_list(TokenForm())


@admin_bp.route("/", methods=["POST"])
@permission_required("api.token.manage")
def token_create():
    """Create a token and show it once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render_list(form, 400)
    try:
        token, clear = services.create_token(current_user.id, name=form.name.data,
                                             rate_per_minute=form.rate_per_minute.data)
    except DomainError as error:
        db.session.rollback()
        getattr(form, error.field or "name").errors = [error.message]
        return _render_list(form, 400)
    db.session.commit()
    response = render_template("api/token_created.html", token=token, clear=clear)
    return response, 201, {"Cache-Control": "no-store"}


@admin_bp.route("/<int:token_id>/deactivate", methods=["POST"])
@permission_required("api.token.manage")
def token_deactivate(token_id: int):
    """Switch a token off (after confirmation)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return redirect(url_for("api_tokens.token_list"))
    try:
        token = services.deactivate_token(current_user.id, token_id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("api_tokens.token_list")), 302
    db.session.commit()
    flash(_("Token %(name)s is switched off.", name=token.name), "success")
    return redirect(url_for("api_tokens.token_list"))
