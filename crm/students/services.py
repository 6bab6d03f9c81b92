"""Enrolment rules (S-18, T-3): enrol, transfer, leave, and who is in a class on a date.

Services flush and never commit. Teaching and surveys ask this module who
belongs to a class; they never look at sales.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from crm.core import uow
from crm.core.errors import Conflict, DomainError
from crm.extensions import db
from crm.students.models import Enrollment, Student

END_TRANSFER, END_DROP_OUT, END_GRADUATED = "transfer", "drop_out", "graduated"


def enrol(student: Student, class_id: int, joined_on: dt.date) -> Enrollment:
    """Enrol a student in a class from a date (one current enrolment per class)."""
    enrollment = Enrollment(student_id=student.id, class_id=class_id, joined_on=joined_on)
    try:
        with uow.savepoint():
            db.session.add(enrollment)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(_("The student is already in this class."), field="class_id") from None
    return enrollment


def leave(enrollment: Enrollment, on: dt.date, reason: str) -> None:
    """End an enrolment on a date (transfer, drop-out, graduation); never before it began."""
    if on < enrollment.joined_on:
        raise DomainError(
            _("The date is before the student joined %(c)s (%(d)s).", c=str(enrollment.class_list),
              d=enrollment.joined_on),
            field="date",
        )
    enrollment.left_on = on
    enrollment.end_reason = reason


def transfer(student: Student, enrollment: Enrollment, class_id: int, on: dt.date) -> Enrollment:
    """Move a student from one class to another on a date: the old enrolment ends, the new one starts."""
    leave(enrollment, on, END_TRANSFER)
    db.session.flush()
    return enrol(student, class_id, on)


def current_enrollments(student_id: int) -> list[Enrollment]:
    """The student's enrolments that have not ended."""
    return list(db.session.scalars(
        sa.select(Enrollment).where(Enrollment.student_id == student_id, Enrollment.left_on.is_(None))
        .order_by(Enrollment.joined_on, Enrollment.id)
    ))


def enrollments_of(student_id: int) -> list[Enrollment]:
    """Every enrolment of a student, with its class, oldest first."""
    return list(db.session.scalars(
        sa.select(Enrollment).where(Enrollment.student_id == student_id)
        .options(joinedload(Enrollment.class_list))
        .order_by(Enrollment.joined_on, Enrollment.id)
    ))


def enrolled_on_clause(class_id, on):
    """SQL condition: the enrolment is in `class_id` on date `on` (joined on or before it, not yet left).

    `class_id` and `on` may be values or SQL expressions (a session's class and date, for
    set-based statements such as the study-record initialisation of T-3).
    """
    return sa.and_(
        Enrollment.class_id == class_id,
        Enrollment.joined_on <= on,
        sa.or_(Enrollment.left_on.is_(None), Enrollment.left_on > on),
    )


def enrolled_on(class_id: int, on: dt.date) -> list[Student]:
    """The students in a class on a date (T-3), with their accounts, by student id."""
    return list(db.session.scalars(
        sa.select(Student).join(Enrollment, Enrollment.student_id == Student.id)
        .where(enrolled_on_clause(class_id, on))
        .options(joinedload(Student.user))
        .order_by(Student.id)
    ).unique())


def student_of(customer_id: int) -> Student | None:
    """The lead's student record, if converted."""
    return db.session.scalar(sa.select(Student).where(Student.customer_id == customer_id))


def student_for_user(user_id: int) -> Student | None:
    """The student record behind a student's login account."""
    return db.session.scalar(sa.select(Student).where(Student.user_id == user_id))
