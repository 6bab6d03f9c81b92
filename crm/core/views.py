"""Home page, health check and language switch."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from crm.core.access import authenticated, public
from crm.core.menu import visible_menu
from crm.core.safe_redirect import is_local_path
from crm.extensions import db, redis

bp = Blueprint("core", __name__, template_folder="templates")


@bp.route("/")
@authenticated
def home():
    """Start page: an area's own start page for this user (the student portal), else the areas they may open."""
    from crm.core.areas import home_panels, home_redirect

    target = home_redirect(current_app, current_user)
    if target:
        return redirect(target)
    return render_template("core/home.html", areas=visible_menu(), panels=home_panels(current_app, current_user))


@bp.route("/healthz")
@public
def healthz():
    """Database and Redis reachability as JSON (200 when both answer, else 503)."""
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "down"; the reason helps operators
        db.session.rollback()
        checks["database"] = f"error: {type(error).__name__}"
    try:
        redis.client.ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"error: {type(error).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", **checks}), 200 if healthy else 503


@bp.route("/language/<code>", methods=["POST"])
@public
def set_language(code: str):
    """Remember the chosen interface language in the session (and on the account)."""
    if code in current_app.config["CRM_LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    target = request.form.get("next") or request.referrer or ""
    if target.startswith(request.host_url):
        target = "/" + target[len(request.host_url):]
    return redirect(target if is_local_path(target) else url_for("core.home"))
