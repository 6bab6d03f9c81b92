"""Admin pages for users, roles and the audit log (P-1, P-3, P-6)."""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from crm.core.audit import AuditLog
from crm.core.admin import SecuredModelView, add_secured_view
from crm.core.menu import MenuItem, register_menu


class AuditLogView(SecuredModelView):
    """Read-only, filterable audit log."""

    permission_view = "auth.audit.view"
    permission_export = "auth.audit.view"
    column_list = ["at", "actor", "action", "object_type", "object_id", "detail"]
    column_default_sort = ("at", True)
    column_filters = ["action", "object_type", "object_id", "at"]


def register_auth_admin(app: Flask) -> None:
    """Mount the account administration pages."""
    add_secured_view(app, AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit", url="/admin/audit"))
    register_menu(app, "auth", _l("Administration"), 90, [
        MenuItem(_l("Audit log"), "audit.index_view", "auth.audit.view"),
    ])
