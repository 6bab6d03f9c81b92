"""Row rules of teaching (T-9): who sees and edits which class.

* Teachers (``ClassList.teachers``) see and edit only the classes they teach.
* Tutors (``ClassList.tutor_id``) see and edit only the classes they look after.
* Users holding ``org.classes.all`` (by default the admin, CEO and sales director
  roles: the school's directors) see every class; what they may *do* there is still
  limited by their permissions (the CEO's role is read-only). The same permission
  makes someone a director for survey results.
* A student sees only their own records.

Endpoint permissions (crm.core.access) decide *what* a user may do; these
functions decide *where*. They raise ``Forbidden`` (403) and never look at the
request.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.auth.models import User
from crm.core.errors import Forbidden, NotFound
from crm.extensions import db
from crm.org.models import ClassList, class_teachers
from crm.students.models import Enrollment

SEES_ALL = "org.classes.all"  # admin, CEO, sales director by default (crm/auth/catalog.py)


def sees_all(user: User) -> bool:
    """Directors and administrators see every class (T-9): they hold org.classes.all."""
    return user.has_permission(SEES_ALL)


def staff_class_ids_clause(user: User):
    """SQL condition on ``ClassList.id``: the classes this staff user teaches or tutors."""
    taught = sa.select(class_teachers.c.class_id).where(class_teachers.c.user_id == user.id)
    return sa.or_(ClassList.id.in_(taught), ClassList.tutor_id == user.id)


def visible_classes_stmt(user: User) -> sa.Select:
    """SELECT of the classes this user may open, newest first."""
    stmt = sa.select(ClassList).order_by(ClassList.start_date.desc(), ClassList.id.desc())
    if not sees_all(user):
        stmt = stmt.where(staff_class_ids_clause(user))
    return stmt


def may_see_class(user: User, class_id: int) -> bool:
    """Does the user teach or tutor this class (or see all)?"""
    if sees_all(user):
        return True
    return db.session.scalar(
        sa.select(sa.literal(True)).select_from(ClassList)
        .where(ClassList.id == class_id, staff_class_ids_clause(user))
    ) is True


def class_for(user: User, class_id: int) -> ClassList:
    """The class, when the user may see it: 404 when missing, 403 when not theirs."""
    klass = db.session.get(ClassList, class_id)
    if klass is None:
        raise NotFound(_("The page or record you asked for does not exist."))
    if not may_see_class(user, class_id):
        raise Forbidden(_("This is not one of your classes."))
    return klass


def staff_may_see_student(user: User, student_id: int) -> bool:
    """A teacher or tutor may see a student of one of their classes (ever enrolled); directors any."""
    if sees_all(user):
        return True
    return db.session.scalar(
        sa.select(sa.literal(True)).select_from(Enrollment)
        .join(ClassList, ClassList.id == Enrollment.class_id)
        .where(Enrollment.student_id == student_id, staff_class_ids_clause(user)).limit(1)
    ) is True


def visible_class_ids(user: User, class_ids: list[int]) -> set[int]:
    """Which of these classes the user may see (one query)."""
    if sees_all(user) or not class_ids:
        return set(class_ids)
    return set(db.session.scalars(
        sa.select(ClassList.id).where(ClassList.id.in_(class_ids), staff_class_ids_clause(user))
    ))
