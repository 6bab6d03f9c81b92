"""Every permission code of the product and the default roles (P-3).

Later areas add their codes here; `sync_rbac()` (run by `flask crm
sync-rbac`, `create-admin` and `seed-demo`) writes new codes to the
database and grants them to the default roles listed below. Grants an
administrator removed by hand are not re-added for codes that already
existed.
"""
from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l


def N_(message: str) -> str:
    """Mark a string for the catalogue; it is translated where it is shown."""
    return message


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
    "auth.user.view": N_("View user accounts"),
    "auth.user.edit": N_("Create and edit users, reset passwords, deactivate"),
    "auth.role.view": N_("View roles and their permissions"),
    "auth.role.edit": N_("Change roles, their permissions and users' roles"),
    "auth.audit.view": N_("View the audit log"),
    "org.view": N_("View schools, courses, classes and departments"),
    "org.edit": N_("Create, edit and delete schools, courses, classes and departments"),
    "org.export": N_("Export organisation lists to Excel"),
    "org.classes.all": N_("Oversee every class: its teaching records and survey results (directors)"),
    "sales.lead.create": N_("Enter leads one by one"),
    "sales.lead.import": N_("Import leads from Excel"),
    "sales.lead.view_all": N_("See every lead, whoever holds it"),
    "sales.lead.edit": N_("Edit leads one holds (or all, with view_all)"),
    "sales.lead.export": N_("Export lead lists to Excel"),
    "sales.mine": N_("My customers: leads one holds and one's history"),
    "sales.followup": N_("Record follow-ups on leads one holds"),
    "sales.pool.view": N_("View the public pool"),
    "sales.pool.grab": N_("Grab leads from the public pool"),
    "sales.pool.assign": N_("Assign pool leads to a consultant"),
    "sales.allocation.manage": N_("Edit the allocation table"),
    "sales.payment.create": N_("Record payments"),
    "sales.dashboard.view": N_("View the sales dashboard (own figures)"),
    "sales.dashboard.all": N_("View every consultant's figures"),
    "teaching.session.view": N_("View course sessions and study records"),
    "teaching.session.edit": N_("Create and edit course sessions"),
    "teaching.attendance": N_("Initialise study records and set attendance"),
    "teaching.score": N_("Enter scores and homework notes"),
    "teaching.student.view": N_("View students of one's classes"),
    "teaching.portal": N_("Student portal: own classes, grades, homework"),
    "rooms.book": N_("Book meeting rooms"),
    "rooms.manage": N_("Manage meeting rooms"),
    "surveys.manage": N_("Create and edit surveys"),
    "surveys.results": N_("View survey results"),
    "surveys.answer": N_("Answer surveys of one's class"),
    "api.token.manage": N_("Manage API tokens"),
    "notifications.manage": N_("See e-mail that could not be delivered and send it again"),
}

ALL = "*"

# role name -> (title, description, codes or ALL)
DEFAULT_ROLES: dict[str, tuple[str, str, object]] = {
    "admin": (N_("Administrator"), N_("Everything, including users and roles"), ALL),
    "ceo": (
        N_("CEO"),
        N_("Read-only reports across the school"),
        {
            "org.view", "org.export", "sales.lead.view_all", "sales.lead.export",
            "sales.dashboard.view", "sales.dashboard.all", "sales.pool.view",
            "teaching.session.view", "teaching.student.view", "surveys.results",
            "org.classes.all", "auth.audit.view", "rooms.book",
        },
    ),
    "sales_director": (
        N_("Sales director"),
        N_("Runs the sales team: allocation, all leads, assignments"),
        {
            "org.view", "sales.lead.create", "sales.lead.import", "sales.lead.view_all",
            "sales.lead.edit", "sales.lead.export", "sales.mine", "sales.followup",
            "sales.pool.view", "sales.pool.grab", "sales.pool.assign",
            "sales.allocation.manage", "sales.payment.create", "sales.dashboard.view",
            "sales.dashboard.all", "org.classes.all", "rooms.book",
        },
    ),
    "consultant": (
        N_("Consultant"),
        N_("Course consultant following up their own leads"),
        {
            "sales.lead.create", "sales.lead.edit", "sales.mine", "sales.followup",
            "sales.pool.view", "sales.pool.grab", "sales.payment.create",
            "sales.dashboard.view", "rooms.book",
        },
    ),
    "tutor": (
        N_("Tutor"),
        N_("班主任: looks after classes, attendance and surveys"),
        {
            "org.view", "teaching.session.view", "teaching.attendance",
            "teaching.student.view", "surveys.manage", "surveys.results", "rooms.book",
        },
    ),
    "teacher": (
        N_("Teacher"),
        N_("Teaches classes: sessions, attendance, scores"),
        {
            "org.view", "teaching.session.view", "teaching.session.edit",
            "teaching.attendance", "teaching.score", "teaching.student.view", "rooms.book",
        },
    ),
    "staff": (
        N_("Staff"),
        N_("Front office: enters and imports leads, books rooms"),
        {"sales.lead.create", "sales.lead.import", "rooms.book"},
    ),
    "student": (
        N_("Student"),
        N_("Sees own classes, grades and homework; answers surveys"),
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


def role_text(name: str, stored: str, part: int) -> str:
    """A role's title (part 0) or description (part 1) for display.

    Only the untouched text of a default role is a catalogue msgid and is
    translated; anything else is shown as stored (and escaped by the template).
    """
    default = DEFAULT_ROLES.get(name)
    if default is not None and stored and default[part] == stored:
        return gettext(default[part])  # a literal of DEFAULT_ROLES, never user text
    return stored or ""


def permission_text(code: str, stored: str) -> str:
    """A permission's label for display: the catalogue text translated, else as stored."""
    label = PERMISSIONS.get(code)
    if label is not None and label == stored:
        return gettext(label)  # a literal of PERMISSIONS, never user text
    return stored or ""
