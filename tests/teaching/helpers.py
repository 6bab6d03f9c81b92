"""Factories for teaching tests: a class with its staff, sessions, records."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from crm.core.clock import utcnow
from crm.extensions import db
from crm.teaching import records, services
from crm.teaching.models import CourseRecord, StudyRecord
from tests.factories import make_class, make_student, make_user

START = dt.date(2026, 9, 1)


@dataclass
class Setup:
    """A class with its teacher and tutor."""

    klass: object
    teacher: object
    tutor: object


def make_setup(*, tutor_email: str | None = None) -> Setup:
    """A class taught by a fresh teacher and looked after by a fresh tutor."""
    teacher = make_user("teacher")
    tutor = make_user("tutor", email=tutor_email)
    klass = make_class(teachers=[teacher], tutor=tutor, start_date=START)
    return Setup(klass, teacher, tutor)


def make_session(klass, number: int, held_on: dt.date | None = None, *, has_homework: bool = False,
                 teacher=None) -> CourseRecord:
    """A session of a class, committed."""
    session = CourseRecord(
        class_id=klass.id, session_no=number, held_on=held_on or START + dt.timedelta(days=7 * (number - 1)),
        title=f"第{number}课", has_homework=has_homework, homework_title="作业" if has_homework else None,
        teacher_id=teacher.id if teacher else None,
    )
    db.session.add(session)
    db.session.commit()
    return session


def initialise(actor, *sessions) -> int:
    """Run the batch initialise as the actor and commit."""
    added = services.initialise_records(actor, [s.id for s in sessions], now=utcnow())
    db.session.commit()
    return added


def records_of(session) -> list[StudyRecord]:
    """The session's records by student id."""
    return list(db.session.scalars(
        sa.select(StudyRecord).where(StudyRecord.course_record_id == session.id).order_by(StudyRecord.student_id)))


def record_for(session, student) -> StudyRecord:
    """One student's record of a session."""
    return db.session.scalar(sa.select(StudyRecord).where(
        StudyRecord.course_record_id == session.id, StudyRecord.student_id == student.id))


def set_status(actor, session, status, *students, today=START):
    """Set attendance for some students (all when none given) and commit."""
    ids = None if not students else [record_for(session, s).id for s in students]
    changed = records.set_attendance(actor, session.id, status, ids, today=today)
    db.session.commit()
    return changed


__all__ = ["sign_in_as", "START", "Setup", "make_setup", "make_session", "initialise", "records_of", "record_for",
           "set_status", "make_student", "make_user"]


def sign_in_as(client, user):
    """Sign out whoever is signed in, then sign in as `user`."""
    from tests.factories import login, logout

    logout(client)
    return login(client, user)
