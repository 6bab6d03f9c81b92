"""Admin lists for schools, courses, classes and departments (P-4, P-5)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_admin.contrib.sqla.filters import DateBetweenFilter, DateGreaterFilter, DateSmallerFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.auth.models import Department, User
from crm.core.admin import IdEqualFilter, LazyOptions, SecuredModelView, add_secured_view
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db
from crm.org.forms import ClassForm, CourseForm, DepartmentForm, SchoolForm
from crm.org.models import ClassList, Course, School


def count_classes(column, value: int) -> int:
    """How many classes point at this school/course id."""
    return db.session.scalar(sa.select(sa.func.count(ClassList.id)).where(column == value)) or 0


def school_options():
    """(id, title) pairs for the school filter."""
    return [(str(i), t) for i, t in db.session.execute(sa.select(School.id, School.title).order_by(School.title))]


def course_options():
    """(id, name) pairs for the course filter."""
    return [(str(i), n) for i, n in db.session.execute(sa.select(Course.id, Course.name).order_by(Course.name))]


def tutor_options():
    """(id, name) pairs of staff who tutor at least one class."""
    query = (
        sa.select(User.id, User.name).where(User.id.in_(sa.select(ClassList.tutor_id)))
        .order_by(User.name)
    )
    return [(str(i), n) for i, n in db.session.execute(query)]


def format_price(view, context, model, name) -> str:
    """Whole yuan with thousands separators, e.g. ¥19,800."""
    return f"¥{model.price:,}"


def format_teachers(view, context, model, name) -> str:
    """Teacher names, comma separated."""
    return ", ".join(teacher.name for teacher in model.teachers)


class OrgView(SecuredModelView):
    """Common permissions of the organisation lists."""

    permission_view = "org.view"
    permission_edit = "org.edit"
    permission_export = "org.export"

    @property
    def column_display_actions(self) -> bool:  # type: ignore[override]
        # Without edit rights the row-button column would only be an empty stripe.
        return self.can_edit

    @column_display_actions.setter
    def column_display_actions(self, value) -> None:
        pass


class SchoolView(OrgView):
    """Schools (campuses)."""

    form = SchoolForm
    column_list = ["title"]
    column_searchable_list = ["title"]
    column_sortable_list = ["title"]
    column_default_sort = "title"
    column_filters = ["title"]
    column_labels = {"title": _l("Title")}

    def in_use_message(self, model) -> str:
        """A school keeps its classes: refuse with the count."""
        count = count_classes(ClassList.school_id, model.id)
        if count:
            return _("The school “%(name)s” still has %(n)d classes; move or delete them first.",
                     name=model.title, n=count)
        return super().in_use_message(model)


class CourseView(OrgView):
    """Courses."""

    form = CourseForm
    column_list = ["name"]
    column_searchable_list = ["name"]
    column_sortable_list = ["name"]
    column_default_sort = "name"
    column_filters = ["name"]
    column_labels = {"name": _l("Name")}

    def in_use_message(self, model) -> str:
        """A course keeps its classes: refuse with the count."""
        count = count_classes(ClassList.course_id, model.id)
        if count:
            return _("The course “%(name)s” still has %(n)d classes; move or delete them first.",
                     name=model.name, n=count)
        return super().in_use_message(model)


class DepartmentView(OrgView):
    """Departments with their numeric codes."""

    form = DepartmentForm
    column_list = ["code", "title"]
    column_searchable_list = ["title"]
    column_sortable_list = ["code", "title"]
    column_default_sort = "code"
    # Codes are filtered through IdEqualFilter so absurd numbers are refused, not sent to the DB.
    column_filters = [IdEqualFilter(Department.code, _l("Code")), "title"]
    column_labels = {"code": _l("Code"), "title": _l("Title")}


class ClassView(OrgView):
    """Classes, shown as 'course (N期)'."""

    form = ClassForm
    column_list = ["course", "semester", "school", "price", "start_date", "graduate_date", "tutor", "teachers", "memo"]
    column_sortable_list = [
        ("course", "course.name"), "semester", ("school", "school.title"), "price",
        "start_date", "graduate_date", ("tutor", "tutor.name"),
    ]
    column_default_sort = [("start_date", True), ("id", True)]
    column_searchable_list = [Course.name, ClassList.memo]
    column_filters = [
        IdEqualFilter(ClassList.school_id, _l("School"), options=LazyOptions(school_options)),
        IdEqualFilter(ClassList.course_id, _l("Course"), options=LazyOptions(course_options)),
        IdEqualFilter(ClassList.tutor_id, _l("Tutor"), options=LazyOptions(tutor_options)),
        DateBetweenFilter(ClassList.start_date, _l("Start date")),
        DateGreaterFilter(ClassList.start_date, _l("Start date")),
        DateSmallerFilter(ClassList.start_date, _l("Start date")),
    ]
    column_labels = {
        "course": _l("Class"), "semester": _l("Semester"), "school": _l("School"),
        "price": _l("Price"), "start_date": _l("Start date"), "graduate_date": _l("Graduation date"),
        "tutor": _l("Tutor"), "teachers": _l("Teachers"), "memo": _l("Memo"),
    }
    column_formatters = {
        "course": lambda view, context, model, name: model.display_name,
        "price": format_price,
        "teachers": format_teachers,
    }
    column_formatters_export = {
        "course": lambda view, context, model, name: model.display_name,
        "price": lambda view, context, model, name: model.price,
        "teachers": format_teachers,
    }
    # Flask-Admin joins every relationship in column_list (school, course, tutor,
    # teachers) into the list query itself, so a page costs a fixed number of queries.
    column_searchable_placeholder = _l("Course name or memo")

    def search_placeholder(self):
        """Say what the search box looks at."""
        return str(self.column_searchable_placeholder)


def register_org_admin(app: Flask) -> None:
    """Mount the organisation lists and their sidebar entries."""
    add_secured_view(app, SchoolView(School, name=_l("Schools"), endpoint="schools", url="/org/schools"))
    add_secured_view(app, CourseView(Course, name=_l("Courses"), endpoint="courses", url="/org/courses"))
    add_secured_view(app, ClassView(ClassList, name=_l("Classes"), endpoint="classes", url="/org/classes"))
    add_secured_view(
        app, DepartmentView(Department, name=_l("Departments"), endpoint="departments", url="/org/departments")
    )
    register_menu(app, "org", _l("Organisation"), 80, [
        MenuItem(_l("Schools"), "schools.index_view", "org.view"),
        MenuItem(_l("Courses"), "courses.index_view", "org.view"),
        MenuItem(_l("Classes"), "classes.index_view", "org.view"),
        MenuItem(_l("Departments"), "departments.index_view", "org.view"),
    ])
