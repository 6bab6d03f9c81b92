"""Batch initialise (T-3): who gets a record, idempotence, row rules."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core.clock import utcnow
from crm.core.errors import Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.teaching import services
from crm.teaching.models import StudyRecord
from tests.teaching.helpers import (
    START,
    initialise,
    make_session,
    make_setup,
    make_student,
    make_user,
    records_of,
)


def test_initialise_creates_records_only_for_students_enrolled_on_the_session_date():
    setup = make_setup()
    s1 = make_session(setup.klass, 1, START)
    s2 = make_session(setup.klass, 2, START + dt.timedelta(days=7))
    s3 = make_session(setup.klass, 3, START + dt.timedelta(days=14))
    always = make_student(setup.klass, joined_on=START)
    joins_later = make_student(setup.klass, joined_on=START + dt.timedelta(days=7))
    left = make_student(setup.klass, joined_on=START, left_on=START + dt.timedelta(days=7))
    make_student(None)  # not in the class at all
    make_student(setup.klass, joined_on=START + dt.timedelta(days=30))  # joins after every session

    assert initialise(setup.teacher, s1, s2, s3) == 2 + 2 + 2

    assert [r.student_id for r in records_of(s1)] == sorted([always.id, left.id])
    # the leave date itself is no longer a class day for the student who left
    assert [r.student_id for r in records_of(s2)] == sorted([always.id, joins_later.id])
    assert [r.student_id for r in records_of(s3)] == sorted([always.id, joins_later.id])
    assert {r.attendance for r in records_of(s1)} == {"checked"}


def test_running_initialise_twice_adds_nothing_and_a_new_student_gets_records_from_their_join_date():
    setup = make_setup()
    s1 = make_session(setup.klass, 1, START)
    s2 = make_session(setup.klass, 2, START + dt.timedelta(days=7))
    first = make_student(setup.klass, joined_on=START)
    assert initialise(setup.teacher, s1, s2) == 2
    assert initialise(setup.teacher, s1, s2) == 0
    late = make_student(setup.klass, joined_on=START + dt.timedelta(days=3))

    assert initialise(setup.teacher, s1, s2) == 1

    assert [r.student_id for r in records_of(s1)] == [first.id]
    assert [r.student_id for r in records_of(s2)] == sorted([first.id, late.id])
    total = db.session.scalar(sa.select(sa.func.count()).select_from(StudyRecord))
    assert total == 3


def test_the_database_refuses_a_second_record_for_the_same_session_and_student():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    student = make_student(setup.klass)
    db.session.add(StudyRecord(course_record_id=session.id, student_id=student.id))
    db.session.commit()
    db.session.add(StudyRecord(course_record_id=session.id, student_id=student.id))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_initialise_is_one_statement_per_batch(app):
    setup = make_setup()
    sessions = [make_session(setup.klass, n) for n in range(1, 6)]
    for _ in range(3):
        make_student(setup.klass, joined_on=START)
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO STUDY_RECORDS"):
            statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert initialise(setup.teacher, *sessions) == 15
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_a_teacher_of_another_class_cannot_initialise():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    make_student(setup.klass)
    other_teacher = make_user("teacher")
    with pytest.raises(Forbidden):
        services.initialise_records(other_teacher, [session.id], now=utcnow())
    db.session.rollback()
    assert records_of(session) == []


def test_initialise_refuses_unknown_and_impossible_ids():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    with pytest.raises(NotFound):
        services.initialise_records(setup.teacher, [session.id, session.id + 1000], now=utcnow())
    with pytest.raises(Invalid):
        services.initialise_records(setup.teacher, [str(2**31)], now=utcnow())
    with pytest.raises(Invalid):
        services.initialise_records(setup.teacher, ["abc"], now=utcnow())
    with pytest.raises(Invalid):
        services.initialise_records(setup.teacher, [], now=utcnow())


def test_a_page_bulk_action_covers_only_its_class():
    setup = make_setup()
    other = make_setup()
    mine = make_session(setup.klass, 1)
    theirs = make_session(other.klass, 1)
    admin = make_user("admin")
    with pytest.raises(Invalid):
        services.initialise_records(admin, [mine.id, theirs.id], now=utcnow(), class_id=setup.klass.id)
