"""Every permission code of the product and the default roles (P-3).

Later areas add their codes here; `sync_rbac()` (run by `flask crm
sync-rbac`, `create-admin` and `seed-demo`) writes new codes to the
database and grants them to the default roles listed below. Grants an
administrator removed by hand are not re-added for codes that already
existed.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

AREAS = {
    "auth": _l("Accounts and access"),
    "org": _l("Organisation"),
    "sales": _l("Sales"),
    "teaching": _l("Teaching"),
    "rooms": _l("Meeting rooms"),
    "surveys": _l("Surveys"),
    "api": _l("API"),
}

# code -> label; the area is the code's first part.
PERMISSIONS: dict[str, str] = {
    "auth.user.view": "View user accounts",
    "auth.user.edit": "Create and edit users, reset passwords, deactivate",
    "auth.role.view": "View roles and their permissions",
    "auth.role.edit": "Change roles, their permissions and users' roles",
    "auth.audit.view": "View the audit log",
    "org.view": "View schools, courses, classes and departments",
    "org.edit": "Create, edit and delete schools, courses, classes and departments",
    "org.export": "Export organisation lists to Excel",
    "sales.lead.create": "Enter leads one by one",
    "sales.lead.import": "Import leads from Excel",
    "sales.lead.view_all": "See every lead, whoever holds it",
    "sales.lead.edit": "Edit leads one holds (or all, with view_all)",
    "sales.lead.export": "Export lead lists to Excel",
    "sales.mine": "My customers: leads one holds and one's history",
    "sales.followup": "Record follow-ups on leads one holds",
    "sales.pool.view": "View the public pool",
    "sales.pool.grab": "Grab leads from the public pool",
    "sales.pool.assign": "Assign pool leads to a consultant",
    "sales.allocation.manage": "Edit the allocation table",
    "sales.payment.create": "Record payments",
    "sales.dashboard.view": "View the sales dashboard (own figures)",
    "sales.dashboard.all": "View every consultant's figures",
    "teaching.session.view": "View course sessions and study records",
    "teaching.session.edit": "Create and edit course sessions",
    "teaching.attendance": "Initialise study records and set attendance",
    "teaching.score": "Enter scores and homework notes",
    "teaching.student.view": "View students of one's classes",
    "teaching.portal": "Student portal: own classes, grades, homework",
    "rooms.book": "Book meeting rooms",
    "rooms.manage": "Manage meeting rooms",
    "surveys.manage": "Create and edit surveys",
    "surveys.results": "View survey results",
    "surveys.answer": "Answer surveys of one's class",
    "api.token.manage": "Manage API tokens",
}

ALL = "*"

# role name -> (title, description, codes or ALL)
DEFAULT_ROLES: dict[str, tuple[str, str, object]] = {
    "admin": ("Administrator", "Everything, including users and roles", ALL),
    "ceo": (
        "CEO",
        "Read-only reports across the school",
        {
            "org.view", "org.export", "sales.lead.view_all", "sales.lead.export",
            "sales.dashboard.view", "sales.dashboard.all", "sales.pool.view",
            "teaching.session.view", "teaching.student.view", "surveys.results",
            "auth.audit.view", "rooms.book",
        },
    ),
    "sales_director": (
        "Sales director",
        "Runs the sales team: allocation, all leads, assignments",
        {
            "org.view", "sales.lead.create", "sales.lead.import", "sales.lead.view_all",
            "sales.lead.edit", "sales.lead.export", "sales.mine", "sales.followup",
            "sales.pool.view", "sales.pool.grab", "sales.pool.assign",
            "sales.allocation.manage", "sales.payment.create", "sales.dashboard.view",
            "sales.dashboard.all", "rooms.book",
        },
    ),
    "consultant": (
        "Consultant",
        "Course consultant following up their own leads",
        {
            "sales.lead.create", "sales.lead.edit", "sales.mine", "sales.followup",
            "sales.pool.view", "sales.pool.grab", "sales.payment.create",
            "sales.dashboard.view", "rooms.book",
        },
    ),
    "tutor": (
        "Tutor",
        "班主任: looks after classes, attendance and surveys",
        {
            "org.view", "teaching.session.view", "teaching.attendance",
            "teaching.student.view", "surveys.manage", "surveys.results", "rooms.book",
        },
    ),
    "teacher": (
        "Teacher",
        "Teaches classes: sessions, attendance, scores",
        {
            "org.view", "teaching.session.view", "teaching.session.edit",
            "teaching.attendance", "teaching.score", "teaching.student.view", "rooms.book",
        },
    ),
    "staff": (
        "Staff",
        "Front office: enters and imports leads, books rooms",
        {"sales.lead.create", "sales.lead.import", "rooms.book"},
    ),
    "student": (
        "Student",
        "Sees own classes, grades and homework; answers surveys",
        {"teaching.portal", "surveys.answer"},
    ),
}


def area_of(code: str) -> str:
    """The area a permission code belongs to."""
    return code.split(".", 1)[0]


def codes_for_role(name: str) -> set[str]:
    """The codes a default role holds."""
    codes = DEFAULT_ROLES[name][2]
    return set(PERMISSIONS) if codes == ALL else set(codes)  # type: ignore[arg-type]
