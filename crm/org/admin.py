"""Admin lists for schools, courses, classes and departments (P-4, P-5)."""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from crm.auth.models import Department
from crm.core.admin import SecuredModelView, add_secured_view
from crm.core.menu import MenuItem, register_menu
from crm.org.models import ClassList, Course, School


class OrgView(SecuredModelView):
    """Common permissions of the organisation lists."""

    permission_view = "org.view"
    permission_edit = "org.edit"
    permission_export = "org.export"


class SchoolView(OrgView):
    column_searchable_list = ["title"]
    column_sortable_list = ["title"]
    column_labels = {"title": _l("Title")}


class CourseView(OrgView):
    column_searchable_list = ["name"]
    column_sortable_list = ["name"]
    column_labels = {"name": _l("Name")}


class DepartmentView(OrgView):
    column_list = ["code", "title"]
    column_searchable_list = ["title"]
    column_sortable_list = ["code", "title"]
    column_labels = {"code": _l("Code"), "title": _l("Title")}


class ClassView(OrgView):
    column_list = ["course", "semester", "school", "price", "start_date", "graduate_date", "tutor"]
    column_sortable_list = ["semester", "price", "start_date", "graduate_date"]
    column_labels = {
        "course": _l("Course"), "semester": _l("Semester"), "school": _l("School"),
        "price": _l("Price"), "start_date": _l("Start date"), "graduate_date": _l("Graduation date"),
        "tutor": _l("Tutor"), "teachers": _l("Teachers"), "memo": _l("Memo"),
    }


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
