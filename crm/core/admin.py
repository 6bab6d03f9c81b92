"""Flask-Admin integration: one Admin per app, permission-checked model views.

Reference-data CRUD (schools, courses, classes, departments, users, audit
log) uses Flask-Admin's list/search/filter/sort/export machinery; our
sidebar and navbar wrap its pages (template admin/crm_master.html) so the
admin lists look like the rest of the product.
"""
from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme

from crm.core.access import AUTHENTICATED, can, declare_blueprint
from crm.extensions import db


class CrmAdminIndex(AdminIndexView):
    """/admin/ itself has nothing to show: go to the start page."""

    @expose("/")
    def index(self):
        return redirect(url_for("core.home"))


class SecuredModelView(ModelView):
    """A model view whose actions follow the user's permissions."""

    permission_view: str = ""
    permission_edit: str | None = None
    permission_export: str | None = None

    page_size = 20
    can_set_page_size = True
    export_types = ["xlsx"]
    export_max_rows = 100_000
    can_view_details = False
    list_template = "admin/crm_list.html"

    def __init__(self, model, **kwargs):
        kwargs.setdefault("session", db)
        super().__init__(model, **kwargs)

    def is_accessible(self) -> bool:
        return can(self.permission_view)

    def is_visible(self) -> bool:
        # The product's own sidebar lists admin pages; Flask-Admin's menu stays hidden.
        return False

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return bool(self.permission_edit) and can(self.permission_edit)

    @can_create.setter
    def can_create(self, value) -> None:
        pass

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return bool(self.permission_edit) and can(self.permission_edit)

    @can_edit.setter
    def can_edit(self, value) -> None:
        pass

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return bool(self.permission_edit) and can(self.permission_edit)

    @can_delete.setter
    def can_delete(self, value) -> None:
        pass

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return bool(self.permission_export) and can(self.permission_export)

    @can_export.setter
    def can_export(self, value) -> None:
        pass


def init_admin(app: Flask) -> Admin:
    """Create this app's Admin (one per app, so tests can build many apps)."""
    from flask_babel import lazy_gettext as _l

    admin = Admin(
        app,
        name=str(_l("Campus CRM")),
        url="/admin",
        index_view=CrmAdminIndex(url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/crm_master.html", fluid=True),
    )
    declare_blueprint(app, "admin", AUTHENTICATED)
    app.extensions["crm_admin"] = admin
    return admin


def add_secured_view(app: Flask, view: SecuredModelView) -> None:
    """Register a view and declare its endpoints with the view permission."""
    admin: Admin = app.extensions.get("crm_admin") or init_admin(app)
    if not view.permission_view:
        raise ValueError(f"{type(view).__name__} declares no permission_view")
    admin.add_view(view)
    declare_blueprint(app, view.endpoint, (view.permission_view,))
