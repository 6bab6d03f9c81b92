"""Admin lists for users and the audit log, and the Administration menu (P-1, P-3, P-6).

The lists use Flask-Admin for search, filters, sort, pagination and .xlsx
export. Changes to accounts go through crm/auth/manage.py, whose pages call
the rules in services.py, so Flask-Admin's own create/edit/delete stay off.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask, has_request_context
from flask_admin.contrib.sqla import filters
from flask_babel import lazy_gettext as _l

from crm.auth.models import Department, Role, User
from crm.core.admin import SecuredModelView, add_secured_view
from crm.core.audit import AuditLog
from crm.core.clock import local_zone, to_local
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db


def local_time(value: dt.datetime | None) -> str:
    """A stored UTC time as local 'YYYY-MM-DD HH:MM:SS' (empty when missing)."""
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M:%S") if local else ""


def role_options() -> list[tuple[str, str]]:
    """Filter choices: every role."""
    return [(str(r.id), r.display_title) for r in db.session.scalars(sa.select(Role).order_by(Role.name))]


def department_options() -> list[tuple[str, str]]:
    """Filter choices: every department."""
    return [(str(d.id), str(d)) for d in db.session.scalars(sa.select(Department).order_by(Department.code))]


def audit_action_options() -> list[tuple[str, str]]:
    """Filter choices: the actions that occur in the log."""
    return [(a, a) for a in db.session.scalars(sa.select(AuditLog.action).distinct().order_by(AuditLog.action))]


def audit_object_type_options() -> list[tuple[str, str]]:
    """Filter choices: the object types that occur in the log."""
    return [(t, t) for t in db.session.scalars(
        sa.select(AuditLog.object_type).distinct().order_by(AuditLog.object_type))]


def local_to_utc(value: dt.datetime) -> dt.datetime:
    """A naive local (CRM_TIMEZONE) time typed into a filter, as aware UTC like the stored values."""
    return value.replace(tzinfo=local_zone()).astimezone(dt.timezone.utc)


class LiveOptions:
    """Filter choices read from the database for each page, not once when the app starts."""

    def get_options(self, view):
        if not has_request_context():
            return None
        return self.options()


class LiveFilterChoices:
    """View mixin: fill LiveOptions filters' choices when a page is drawn."""

    def _get_filter_groups(self):
        groups = super()._get_filter_groups()
        for items in (groups or {}).values():
            for item in items:
                flt = self._filters[item["index"]]
                if isinstance(flt, LiveOptions):
                    item["options"] = [(key, str(label)) for key, label in flt.get_options(self)]
        return groups


class LiveEqualFilter(LiveOptions, filters.FilterEqual):
    """Equals one of the choices currently in the database."""


class LocalBetweenFilter(filters.DateTimeBetweenFilter):
    """Between two local times."""

    def clean(self, value):
        return [local_to_utc(v) for v in super().clean(value)]


class LocalAfterFilter(filters.DateTimeGreaterFilter):
    """After a local time."""

    def clean(self, value):
        return local_to_utc(super().clean(value))


class LocalBeforeFilter(filters.DateTimeSmallerFilter):
    """Before a local time."""

    def clean(self, value):
        return local_to_utc(super().clean(value))


class RoleFilter(LiveOptions, filters.BaseSQLAFilter):
    """Users holding a role (an EXISTS test on the link table, so rows are never duplicated)."""

    def __init__(self, name):
        # Bound to a users column so Flask-Admin adds no join of its own.
        super().__init__(User.id, name, options=role_options)

    def clean(self, value):
        return int(value)

    def apply(self, query, value, alias=None):
        return query.filter(User.roles.any(Role.id == value))

    def operation(self):
        return _l("is")


class DepartmentFilter(LiveOptions, filters.FilterEqual):
    """Users of one department, chosen from a list."""

    def __init__(self, name):
        super().__init__(User.department_id, name, options=department_options)

    def clean(self, value):
        return int(value)

    def operation(self):
        return _l("is")


class UserView(LiveFilterChoices, SecuredModelView):
    """Searchable, filterable list of accounts; the password hash is never listed or exported."""

    permission_view = "auth.user.view"
    permission_edit = None  # changes go through crm/auth/manage.py
    permission_export = "auth.user.view"
    list_template = "auth/users_list.html"

    column_list = ["username", "name", "kind", "department", "roles", "email", "phone", "active", "last_login_at"]
    column_export_list = [
        "id", "username", "name", "kind", "department", "roles", "email", "phone", "wechat_openid", "active",
        "created_at", "last_login_at",
    ]
    column_searchable_list = ["username", "name", "email", "phone"]
    column_sortable_list = [
        "username", "name", "kind", ("department", "department.code"), "email", "active", "last_login_at",
    ]
    column_default_sort = "username"
    column_labels = {
        "id": _l("ID"), "username": _l("User name"), "name": _l("Name"), "kind": _l("Kind"),
        "department": _l("Department"), "roles": _l("Roles"), "email": _l("E-mail"), "phone": _l("Phone"),
        "wechat_openid": _l("WeChat openid"), "active": _l("Active"), "created_at": _l("Created"),
        "last_login_at": _l("Last sign-in"),
    }
    column_formatters = {
        "roles": lambda v, c, m, p: ", ".join(r.display_title for r in m.roles),
        "kind": lambda v, c, m, p: str(_l("Student")) if m.kind == User.KIND_STUDENT else str(_l("Staff")),
        "last_login_at": lambda v, c, m, p: local_time(m.last_login_at),
        "created_at": lambda v, c, m, p: local_time(m.created_at),
    }
    column_formatters_export = {
        "roles": column_formatters["roles"],
        "kind": column_formatters["kind"],
        "department": lambda v, c, m, p: str(m.department) if m.department else "",
    }
    column_filters = [
        DepartmentFilter(_l("Department")),
        RoleFilter(_l("Role")),
        filters.BooleanEqualFilter(User.active, _l("Active")),
        filters.FilterEqual(User.kind, _l("Kind"), options=[("staff", _l("Staff")), ("student", _l("Student"))]),
    ]

    def get_column_names(self, only_columns, excluded_columns):
        """Never let a configuration change show the password hash."""
        names = super().get_column_names(only_columns, excluded_columns)
        return [(field, label) for field, label in names if field != "password_hash"]


def audit_detail_text(value: dict) -> str:
    """A readable one-line summary of an audit row's details."""
    parts = []
    for key, item in sorted(value.items()):
        if isinstance(item, list):
            item = ", ".join(map(str, item)) or "—"
        elif isinstance(item, dict):
            item = "; ".join(f"{k}: {v}" for k, v in item.items())
        parts.append(f"{key}: {item}")
    return " | ".join(parts)


class AuditLogView(LiveFilterChoices, SecuredModelView):
    """Read-only, filterable audit log, newest first."""

    permission_view = "auth.audit.view"
    permission_export = "auth.audit.view"
    list_template = "auth/audit_list.html"
    column_display_actions = False
    column_list = ["at", "actor", "action", "object_type", "object_id", "detail"]
    column_export_list = ["id", "at", "actor", "action", "object_type", "object_id", "detail"]
    column_default_sort = ("at", True)
    column_sortable_list = ["at", "action", "object_type"]
    column_searchable_list = ["action", "object_type", "object_id", "detail"]
    column_labels = {
        "id": _l("ID"), "at": _l("When"), "actor": _l("Who"), "action": _l("Action"),
        "object_type": _l("Object type"), "object_id": _l("Object id"), "detail": _l("Details"),
    }
    column_formatters = {
        "at": lambda v, c, m, p: local_time(m.at),
        "actor": lambda v, c, m, p: f"{m.actor.name} ({m.actor.username})" if m.actor else "—",
        "detail": lambda v, c, m, p: audit_detail_text(m.detail_dict),
    }

    column_filters = [
        LiveEqualFilter(AuditLog.action, _l("Action"), options=audit_action_options),
        filters.FilterLike(AuditLog.action, _l("Action")),
        filters.FilterEqual(AuditLog.actor_id, _l("Who (user id)")),
        filters.FilterLike(User.username, _l("Who (user name)")),
        LiveEqualFilter(AuditLog.object_type, _l("Object type"), options=audit_object_type_options),
        filters.FilterEqual(AuditLog.object_id, _l("Object id")),
        LocalBetweenFilter(AuditLog.at, _l("When")),
        LocalAfterFilter(AuditLog.at, _l("When")),
        LocalBeforeFilter(AuditLog.at, _l("When")),
    ]


def register_auth_admin(app: Flask) -> None:
    """Mount the account administration pages and the Administration menu."""
    add_secured_view(app, UserView(User, name=_l("Users"), endpoint="users", url="/admin/users"))
    add_secured_view(app, AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit", url="/admin/audit"))
    register_menu(app, "auth", _l("Administration"), 90, [
        MenuItem(_l("Users"), "users.index_view", "auth.user.view"),
        MenuItem(_l("Roles"), "auth.roles", "auth.role.view"),
        MenuItem(_l("Audit log"), "audit.index_view", "auth.audit.view"),
    ])
