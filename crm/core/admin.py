"""Flask-Admin integration: one Admin per app, permission-checked model views.

Reference-data CRUD (schools, courses, classes, departments, users, audit
log) uses Flask-Admin's list/search/filter/sort/export machinery; our
sidebar and navbar wrap its pages (template admin/crm_master.html) so the
admin lists look like the rest of the product.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, abort, flash, redirect, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import IntEqualFilter
from flask_admin.helpers import get_redirect_target
from flask_admin.theme import Bootstrap4Theme
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import secure_filename
from wtforms import HiddenField
from wtforms.validators import ValidationError

from crm.core import clock, once
from crm.core.access import AUTHENTICATED, can, declare_blueprint
from crm.core.admin_templates import HandlerFreeAdminTemplates
from crm.core.forms import CrmForm
from crm.core.ids import MAX_ID
from crm.core.listing import xlsx_response
from crm.core.security import csp_nonce
from crm.extensions import db

log = logging.getLogger(__name__)

# Largest value of a 32-bit INTEGER key; bigger ids cannot exist and would
# make PostgreSQL raise instead of finding nothing.
MAX_INT_ID = MAX_ID

# Views that change data: they need permission_edit, not just permission_view.
EDIT_VIEW_NAMES = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})


def parse_id(raw) -> int | None:
    """An integer primary key from a URL/form value, or None when it cannot be one."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_INT_ID else None


class IdEqualFilter(IntEqualFilter):
    """Equality filter on an id column; values no id can have are refused, not sent to the DB."""

    def clean(self, value: str) -> int:
        key = parse_id(value)
        if key is None:
            raise ValueError(f"not an id: {value!r}")
        return key


class LazyOptions:
    """Filter options read from the database on every page, not once at start-up.

    Flask-Admin calls a callable `options` while the app is built (no
    request, possibly no tables yet) and keeps the result; an iterable that
    is not callable is iterated each time the list page renders.
    """

    def __init__(self, load):
        self._load = load

    def __bool__(self) -> bool:
        return True

    def __iter__(self):
        return iter(self._load())


class CrmAdminForm(CrmForm):
    """Base of every Flask-Admin form: carries Flask-WTF's CSRF token.

    Flask-Admin's own SecureForm signs a different token than the global
    CSRFProtect checks, so its forms would always be refused; a FlaskForm
    base renders the token CSRFProtect expects and validates it again.
    """

    def __init__(self, formdata=None, obj=None, prefix="", **kwargs):
        # The edited row: uniqueness checks skip it.
        self._obj = obj
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kwargs)

    def validate(self, extra_validators=None) -> bool:
        """Field rules, then whole-form rules; errors become plain strings.

        Flask-Admin's templates only show errors that are `str`, so lazily
        translated messages would be silently hidden.
        """
        valid = super().validate(extra_validators)
        if valid:
            valid = self.validate_rows()
        for field in self:
            if isinstance(field.errors, list):
                field.errors = [str(error) for error in field.errors]
        return valid

    def validate_rows(self) -> bool:
        """Rules that look at other rows (e.g. composite uniqueness); add field errors, return False."""
        return True


def with_submission_token(form_class):
    """`form_class` plus the hidden one-time token field, which is never copied onto the row."""

    def populate_obj(self, obj) -> None:
        for name, field in self._fields.items():
            if name != once.FIELD:
                field.populate_obj(obj, name)

    return type(form_class.__name__, (form_class,), {
        once.FIELD: HiddenField(default=once.new_token), "populate_obj": populate_obj,
    })


class UniqueValue:
    """Field validator: no other row may hold this value (the DB constraint still has the last word)."""

    def __init__(self, column, message):
        self.column = column
        self.message = message

    def __call__(self, form, field) -> None:
        if field.data is None or field.errors:
            return
        model = self.column.class_
        query = sa.select(model).where(self.column == field.data)
        edited = getattr(form, "_obj", None)
        if edited is not None and getattr(edited, "id", None) is not None:
            query = query.where(model.id != edited.id)
        if db.session.scalar(query.limit(1)) is not None:
            raise ValidationError(str(self.message))


class CrmAdminIndex(AdminIndexView):
    """/admin/ itself has nothing to show: go to the start page."""

    @expose("/")
    def index(self):
        """Redirect to the start page."""
        return redirect(url_for("core.home"))


class SecuredModelView(ModelView):
    """A model view whose actions follow the user's permissions."""

    permission_view: str = ""
    permission_edit: str | None = None
    permission_export: str | None = None

    # Bulk actions a page may offer; anything else posted to action_view is ignored.
    allowed_actions: tuple[str, ...] = ("delete",)

    page_size = 20
    can_set_page_size = True
    page_size_options = (20, 50, 100)
    export_types = ["xlsx"]
    export_max_rows = 100_000
    can_view_details = False
    list_template = "admin/crm_list.html"
    form_base_class = CrmAdminForm

    def __init__(self, model, **kwargs):
        kwargs.setdefault("session", db)
        super().__init__(model, **kwargs)

    # -- access -----------------------------------------------------------
    def is_accessible(self) -> bool:
        """Listing needs the view permission."""
        return can(self.permission_view)

    def is_visible(self) -> bool:
        """Flask-Admin's own menu stays hidden; the product's sidebar lists admin pages."""
        return False

    def _handle_view(self, name, **kwargs):
        # Refuse writes with 403 instead of Flask-Admin's silent redirect, so a
        # forged POST from a read-only user is visibly refused.
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        if name in EDIT_VIEW_NAMES and not self.can_edit:
            abort(403)
        if name == "export" and not self.can_export:
            abort(403)
        return None

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

    def is_action_allowed(self, name: str) -> bool:
        """Only whitelisted bulk actions, and only for users who may edit."""
        return name in self.allowed_actions and self.can_edit and super().is_action_allowed(name)

    # -- list arguments -----------------------------------------------------
    def _get_list_extra_args(self):
        """Page numbers and sizes no list can have fall back to the first page and the default size."""
        args = super()._get_list_extra_args()
        size = args.page_size if args.page_size in self.page_size_options else self.page_size
        if not args.page or args.page < 0 or args.page * size > MAX_INT_ID:
            args.page = 0
        if args.page_size not in self.page_size_options:
            args.page_size = 0
        return args

    def _get_list_filter_args(self):
        """Filter values the column cannot hold are dropped with a message, never sent to the database.

        A filter on an integer column gets an int within the column's range (PostgreSQL
        refuses to compare an integer column with text, or with a number past 32 bits).
        """
        kept = []
        for idx, name, value in super()._get_list_filter_args() or []:
            flt = self._filters[idx]
            try:
                cleaned = flt.clean(value)
                column = getattr(flt, "column", None)
                if isinstance(getattr(column, "type", None), sa.Integer) and not isinstance(cleaned, list):
                    cleaned = int(str(cleaned).strip())
                    if not -MAX_INT_ID <= cleaned <= MAX_INT_ID:
                        raise ValueError(value)
                    value = cleaned
            except (TypeError, ValueError, OverflowError, ArithmeticError):
                flash(self.get_invalid_value_msg(value, flt), "error")
                continue
            kept.append((idx, name, value))
        return kept if self._filters else None

    # -- submit once ------------------------------------------------------
    def get_create_form(self):
        """The create form carries a one-time submission token (crm/core/once.py): a double
        click or a resend of "Save" creates one row."""
        return with_submission_token(super().get_create_form())

    # -- lookups ----------------------------------------------------------
    def get_one(self, id):
        """The row with this id, or None for unknown or malformed ids (never a DB error)."""
        key = parse_id(id)
        return None if key is None else db.session.get(self.model, key)

    # -- writes -----------------------------------------------------------
    def in_use_message(self, model) -> str:
        """Why a row could not be deleted (other rows still point to it)."""
        return _("“%(name)s” is still in use elsewhere and was not deleted.", name=str(model))

    def handle_view_exception(self, exc: Exception) -> bool:
        """Show constraint violations as a plain sentence, not the database's text."""
        if isinstance(exc, IntegrityError):
            log.info("integrity error in %s: %s", type(self).__name__, exc.orig)
            flash(_("The record clashes with existing data (a duplicate or a row still in use). "
                    "Nothing was saved."), "error")
            return True
        return super().handle_view_exception(exc)

    def delete_model(self, model) -> bool:
        """Delete one row; a row still referenced elsewhere is kept with a clear message."""
        message = self.in_use_message(model)
        try:
            self.on_model_delete(model)
            db.session.delete(model)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            flash(message, "error")
            return False
        self.after_model_delete(model)
        return True

    @action("delete", _l("Delete"), _l("Are you sure you want to delete the selected records?"))
    def action_delete(self, ids) -> None:
        """Bulk delete, all or nothing: one row still in use keeps every row."""
        keys = sorted({key for key in (parse_id(raw) for raw in ids) if key is not None})
        if not keys:
            flash(_("Select at least one record."), "error")
            return
        pk = getattr(self.model, self._primary_key)
        rows = list(db.session.scalars(sa.select(self.model).where(pk.in_(keys))))
        blocked = None
        try:
            for row in rows:
                blocked = row
                self.on_model_delete(row)
                db.session.delete(row)
                db.session.flush()
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            flash(_("Nothing was deleted: %(reason)s", reason=self.in_use_message(blocked)), "error")
            return
        flash(ngettext("%(num)d record was deleted.", "%(num)d records were deleted.", len(rows)), "success")

    # -- export -----------------------------------------------------------
    def get_export_value(self, model, name):
        """Typed cell values (numbers and dates stay numbers and dates in Excel)."""
        formatter = self.column_formatters_export.get(name)
        if formatter is not None:
            return formatter(self, None, model, name)
        value = model
        for part in str(name).split("."):
            value = getattr(value, part, None) if value is not None else None
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return clock.to_local(value).replace(tzinfo=None)
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if isinstance(value, (int, float, Decimal, dt.date)):
            return value
        if isinstance(value, (list, tuple, set)):
            return ", ".join(str(item) for item in value)
        return str(value)

    @expose("/export/<export_type>/")
    def export(self, export_type: str):
        """Download the filtered, sorted rows of the list as .xlsx."""
        if export_type not in self.export_types:
            abort(404)
        _count, rows = self._export_data()
        columns = self._export_columns
        filename = f"{self.endpoint}-{clock.today().isoformat()}.xlsx"
        return xlsx_response(
            filename, [str(label) for _name, label in columns],
            ([self.get_export_value(row, name) for name, _label in columns] for row in rows),
            sheet_title=secure_filename(str(self.name)) or "export", cap=self.export_max_rows,
        )

    def get_save_return_url(self, model, is_created: bool = False) -> str:
        """Back to the list with the filters, sort and page the user came from."""
        return get_redirect_target() or self.get_url(".index_view")


def init_admin(app: Flask) -> Admin:
    """Create this app's Admin (one per app, so tests can build many apps)."""
    # The app's own templates first, then Flask-Admin's handler-free versions; the rest of
    # Flask-Admin's templates come from its blueprints as usual.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(Path(app.root_path) / app.template_folder)),
                                     HandlerFreeAdminTemplates()])
    admin = Admin(
        app,
        name=str(_l("Campus CRM")),
        url="/admin",
        index_view=CrmAdminIndex(url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/crm_master.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    declare_blueprint(app, "admin", AUTHENTICATED)
    app.extensions["crm_admin"] = admin
    return admin


def add_secured_view(app: Flask, view: SecuredModelView) -> None:
    """Register a view and declare its endpoints with the view permission."""
    admin: Admin = app.extensions.get("crm_admin") or init_admin(app)
    if not view.permission_view:
        raise ValueError(f"{type(view).__name__} declares no permission_view")
    # Admin lists page like every other list (CRM_PAGE_SIZE), still offering the usual choices.
    view.page_size = app.config["CRM_PAGE_SIZE"]
    view.page_size_options = tuple(sorted({*view.page_size_options, view.page_size}))
    admin.add_view(view)
    declare_blueprint(app, view.endpoint, (view.permission_view,))
