"""Sign in, sign out and change one's own password."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_login.config import COOKIE_NAME
from werkzeug.wrappers import Response

from crm.auth import bp, services, signin
from crm.auth.forms import ChangePasswordForm, LoginForm
from crm.auth.sessions import new_sign_in, revoke_sessions
from crm.core.access import authenticated, public
from crm.core.errors import DomainError
from crm.core.forms import show_domain_error
from crm.core.safe_redirect import is_local_path
from crm.extensions import db


def client_ip() -> str:
    """The caller's address (behind a proxy, configure ProxyFix so this is the real one)."""
    return request.remote_addr or "unknown"


@bp.before_app_request
def end_stale_session() -> Response | None:
    """End, on their next request, a session that was revoked or whose user was deactivated.

    A revoked session (sign-out elsewhere, password change or reset,
    deactivation) names an old session version: the loader refuses it and
    the session and remember cookie are cleared here, so re-activating the
    account never resumes it. A deactivated user is told why.
    """
    if current_user.is_anonymous:
        ended = g.pop("ended_session_user", None)
        if ended is None:
            return None
        logout_user()
        if ended.active:
            return None
    elif current_user.is_active:
        return None
    else:
        logout_user()
    flash(_("Your account has been deactivated. Ask an administrator."), "danger")
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = signin.authenticate(form.username.data, form.password.data, client_ip())
        except DomainError as error:
            db.session.commit()
            flash(error.message, "danger")
            status = 429 if isinstance(error, signin.LoginLocked) else 200
            return render_template("auth/login.html", form=form), status
        db.session.commit()
        new_sign_in(user)
        login_user(user, remember=form.remember.data)
        current_app.logger.info("user %s signed in", user.id)
        if user.must_change_password:
            flash(_("Please choose a new password before you continue."), "warning")
            return redirect(url_for("auth.change_password"))
        target = form.next.data
        return redirect(target if is_local_path(target) else url_for("core.home"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@authenticated
def logout():
    """Sign out (POST with CSRF, so a link on another site cannot sign you out).

    Every session and remember cookie of the account ends, so a copied cookie dies too.
    """
    revoke_sessions(current_user.id)
    db.session.commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@authenticated
def change_password():
    """Change one's own password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_own_password(current_user, form.current_password.data, form.password.data)
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            # The other sessions ended with the old password; this one continues under the new version.
            remembered = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies
            new_sign_in(current_user._get_current_object())
            login_user(current_user._get_current_object(), remember=remembered)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("core.home"))
    return render_template("auth/change_password.html", form=form)
