"""Forms of the teaching pages (fields as text: the services parse and explain mistakes)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from crm.core.forms import CrmForm
from crm.core.input_guard import strip_control


class SessionForm(CrmForm):
    """A course session (T-1)."""

    allow_control = True  # services.save_session drops control characters and explains what is left

    session_no = StringField(_l("Session number"))
    held_on = StringField(_l("Date"))
    teacher_id = SelectField(_l("Teacher"), choices=[], validate_choice=False)
    title = StringField(_l("Title"))
    summary = TextAreaField(_l("Summary"))
    has_homework = BooleanField(_l("Has homework"))
    homework_title = StringField(_l("Homework title"))
    homework_description = TextAreaField(_l("Homework description"))
    grading_points = TextAreaField(_l("Grading points"))


class PostForm(CrmForm):
    """CSRF only: pages whose inputs are one per row (grids, bulk actions)."""


class HomeworkForm(CrmForm):
    """A student's homework file and memo (T-7)."""

    file = FileField(_l("File"))
    memo = TextAreaField(_l("Memo"), filters=[strip_control])
