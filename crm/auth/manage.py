"""Administration pages: create and edit users, their roles and passwords; roles and permissions.

The user list itself (search, filters, sort, export) is the Flask-Admin view
in crm/auth/admin.py; these pages do what needs a rule from services.py.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth import bp, catalog, services
from crm.auth.forms import (
    ConfirmForm,
    RoleCreateForm,
    RolePermissionsForm,
    UserCreateForm,
    UserEditForm,
    UserRolesForm,
)
from crm.auth.models import Department, Permission, Role, User
from crm.core.access import can, permission_required
from crm.core.errors import DomainError
from crm.core.forms import show_domain_error
from crm.core.safe_redirect import is_local_path
from crm.extensions import db

USERS_LIST = "users.index_view"


def back_url(default_endpoint: str = USERS_LIST) -> str:
    """Where to go after a save: the list the user came from (filters kept), if it is local."""
    target = request.values.get("next", "")
    return target if is_local_path(target) else url_for(default_endpoint)


def _department_choices() -> list[tuple[int, str]]:
    departments = db.session.scalars(sa.select(Department).order_by(Department.code))
    return [(0, "—")] + [(d.id, str(d)) for d in departments]


def _role_choices() -> list[tuple[int, str]]:
    return [(r.id, f"{r.display_title} ({r.name})") for r in db.session.scalars(sa.select(Role).order_by(Role.name))]


def _show_error(form, error: DomainError) -> None:
    """Put a service's message under its field, or flash it when it names none."""
    show_domain_error(form, error, summary=_("Please correct the marked fields; nothing was saved."))


def _password_once(user, password: str, heading: str):
    """Show a generated password on this one response; it is never stored or shown again."""
    response = make_response(render_template(
        "auth/password_once.html", user=user, password=password, heading=heading, back=back_url(),
    ))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- users -----------------------------------------------------------------------------
@bp.route("/users/new", methods=["GET", "POST"])
@permission_required("auth.user.edit")
def user_create():
    """Create an account; its initial password is shown once."""
    form = UserCreateForm()
    form.department_id.choices = _department_choices()
    may_set_roles = can("auth.role.edit")
    form.roles.choices = _role_choices()
    if not may_set_roles:
        del form.roles
    if form.validate_on_submit():
        try:
            user, password = services.create_user(
                current_user.id,
                username=form.username.data,
                name=form.name.data,
                email=form.email.data,
                phone=form.phone.data,
                wechat_openid=form.wechat_openid.data,
                department_id=form.department_id.data or None,
                kind=form.kind.data,
                role_ids=(form.roles.data or []) if may_set_roles else (),
                must_change_password=True,
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            return _password_once(user, password, _("Account %(u)s created", u=user.username))
    elif form.is_submitted():
        flash(_("Please correct the marked fields; nothing was saved."), "danger")
    return render_template("auth/user_form.html", form=form, user=None, back=back_url())


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@permission_required("auth.user.edit")
def user_edit(user_id: int):
    """Edit a user's profile; roles, password and activation have their own buttons here."""
    user = db.get_or_404(User, user_id)
    form = UserEditForm(obj=user)
    form.department_id.choices = _department_choices()
    if request.method == "GET":
        form.department_id.data = user.department_id or 0
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user.id, user.id,
                name=form.name.data, email=form.email.data, phone=form.phone.data,
                wechat_openid=form.wechat_openid.data, department_id=form.department_id.data or None,
                kind=form.kind.data,
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("The profile of %(u)s has been saved.", u=user.username), "success")
            return redirect(back_url())
    elif form.is_submitted():
        flash(_("Please correct the marked fields; nothing was saved."), "danger")
    roles_form = UserRolesForm(formdata=None, roles=[r.id for r in user.roles])
    roles_form.roles.choices = _role_choices()
    return render_template(
        "auth/user_form.html", form=form, user=user, roles_form=roles_form, action_form=ConfirmForm(),
        back=back_url(),
    )


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@permission_required("auth.role.edit")
def user_roles(user_id: int):
    """Replace a user's roles (audited); effective on the user's next request."""
    user = db.get_or_404(User, user_id)
    form = UserRolesForm()
    form.roles.choices = _role_choices()
    if not form.validate_on_submit():
        for message in form.roles.errors or [_("Please choose valid roles.")]:
            flash(message, "danger")
        return redirect(url_for("auth.user_edit", user_id=user.id, next=request.values.get("next")))
    try:
        services.set_user_roles(current_user.id, user.id, form.roles.data or [])
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
    else:
        db.session.commit()
        flash(_("The roles of %(u)s have been saved.", u=user.username), "success")
    return redirect(url_for("auth.user_edit", user_id=user.id, next=request.values.get("next")))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@permission_required("auth.user.edit")
def user_reset_password(user_id: int):
    """Give the user a new random password (shown once) that must be changed at next sign-in."""
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    password = services.reset_password(current_user.id, user.id)
    db.session.commit()
    return _password_once(user, password, _("New password for %(u)s", u=user.username))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@permission_required("auth.user.edit")
def user_deactivate(user_id: int):
    """Deactivate an account: it cannot sign in and open sessions end; its history stays."""
    return _set_active(user_id, False)


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@permission_required("auth.user.edit")
def user_activate(user_id: int):
    """Let a deactivated account sign in again."""
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.set_active(current_user.id, user.id, active)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
    else:
        db.session.commit()
        if active:
            flash(_("%(u)s can sign in again.", u=user.username), "success")
        else:
            flash(_("%(u)s has been deactivated.", u=user.username), "success")
    return redirect(back_url())


# -- roles -------------------------------------------------------------------------------
@bp.route("/roles")
@permission_required("auth.role.view")
def roles():
    """Roles with their number of users and permissions."""
    all_roles = list(db.session.scalars(sa.select(Role).order_by(Role.name)))
    permission_counts = dict(db.session.execute(
        sa.select(Role.id, sa.func.count(Permission.id)).join(Role.permissions).group_by(Role.id)
    ).all())
    return render_template(
        "auth/roles.html", roles=all_roles, user_counts=services.role_user_counts(),
        permission_counts=permission_counts,
    )


@bp.route("/roles/new", methods=["GET", "POST"])
@permission_required("auth.role.edit")
def role_create():
    """Create a custom role; its permissions are set on the next page."""
    form = RoleCreateForm()
    if form.validate_on_submit():
        try:
            role = services.create_role(
                current_user.id, name=form.name.data, title=form.title.data, description=form.description.data,
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("Role %(n)s created. Now choose its permissions.", n=role.name), "success")
            return redirect(url_for("auth.role_detail", role_id=role.id))
    elif form.is_submitted():
        flash(_("Please correct the marked fields; nothing was saved."), "danger")
    return render_template("auth/role_form.html", form=form)


def _permission_matrix() -> list[tuple[str, object, list[Permission]]]:
    """Permissions grouped by area in catalogue order: (area key, label, permissions)."""
    by_area: dict[str, list[Permission]] = {}
    for perm in db.session.scalars(sa.select(Permission).order_by(Permission.code)):
        by_area.setdefault(perm.area, []).append(perm)
    ordered = [a for a in catalog.AREAS if a in by_area] + sorted(a for a in by_area if a not in catalog.AREAS)
    return [(area, catalog.AREAS.get(area, area), by_area[area]) for area in ordered]


@bp.route("/roles/<int:role_id>")
@permission_required("auth.role.view")
def role_detail(role_id: int):
    """A role's permissions as a matrix grouped by area (editable with auth.role.edit)."""
    role = db.get_or_404(Role, role_id)
    return _render_role(role, {p.code for p in role.permissions})


def _render_role(role: Role, held: set[str], status: int = 200):
    members = list(db.session.scalars(
        sa.select(User).join(User.roles).where(Role.id == role.id)
        .order_by(User.username).limit(200)
    ))
    return render_template(
        "auth/role_detail.html", role=role, held=held, matrix=_permission_matrix(),
        form=RolePermissionsForm(formdata=None), members=members,
        user_count=services.role_user_counts().get(role.id, 0),
    ), status


@bp.route("/roles/<int:role_id>/permissions", methods=["POST"])
@permission_required("auth.role.edit")
def role_permissions(role_id: int):
    """Save a role's permission matrix in one transaction (audited)."""
    role = db.get_or_404(Role, role_id)
    form = RolePermissionsForm()
    form.permissions.choices = list(db.session.scalars(sa.select(Permission.code)))
    if not form.validate_on_submit():
        for message in form.permissions.errors or [_("The form was not valid; nothing was saved.")]:
            flash(message, "danger")
        return _render_role(role, set(request.form.getlist("permissions")), 400)
    try:
        services.set_role_permissions(current_user.id, role.id, form.permissions.data or [])
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _render_role(role, set(form.permissions.data or []), 400)
    db.session.commit()
    flash(_("The permissions of %(r)s have been saved.", r=role.display_title), "success")
    return redirect(url_for("auth.role_detail", role_id=role.id))
