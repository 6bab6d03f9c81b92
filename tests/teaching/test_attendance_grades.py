"""Attendance (T-4) drives grades (T-6), both ways; the absence warning e-mail."""
from __future__ import annotations

import itertools
import time

import pytest
import sqlalchemy as sa

from crm.core.errors import Forbidden, Invalid
from crm.extensions import db
from crm.notifications.models import Notification
from crm.teaching import grades, records
from tests.teaching.helpers import (
    initialise,
    make_session,
    make_setup,
    make_student,
    make_user,
    record_for,
    records_of,
    set_status,
    sign_in_as,
)


def _graded(session, student, grade):
    record = record_for(session, student)
    record.grade, record.score = grade, grades.score_of(grade)
    db.session.commit()


def test_noshow_gives_d_and_vacate_gives_na():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    absent, excused, present = (make_student(setup.klass) for _ in range(3))
    initialise(setup.teacher, session)

    set_status(setup.teacher, session, "noshow", absent)
    set_status(setup.teacher, session, "vacate", excused)

    assert (record_for(session, absent).grade, record_for(session, absent).score) == ("D", 0)
    assert (record_for(session, excused).grade, record_for(session, excused).score) == ("N/A", None)
    assert (record_for(session, present).attendance, record_for(session, present).grade) == ("checked", None)


def test_noshow_keeps_copy_and_fail_but_overrides_a_numeric_grade():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    copier, failed, good = (make_student(setup.klass) for _ in range(3))
    initialise(setup.teacher, session)
    _graded(session, copier, "COPY")
    _graded(session, failed, "FAIL")
    _graded(session, good, "A")

    set_status(setup.teacher, session, "noshow")

    assert [record_for(session, s).grade for s in (copier, failed, good)] == ["COPY", "FAIL", "D"]
    assert record_for(session, good).score == 0


def test_changing_attendance_back_clears_the_automatic_grade_only():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    was_absent, was_excused, copier = (make_student(setup.klass) for _ in range(3))
    initialise(setup.teacher, session)
    set_status(setup.teacher, session, "noshow", was_absent, copier)
    _graded(session, copier, "COPY")
    set_status(setup.teacher, session, "vacate", was_excused)

    set_status(setup.teacher, session, "checked")

    assert (record_for(session, was_absent).grade, record_for(session, was_absent).score) == (None, None)
    assert record_for(session, was_excused).grade is None
    assert record_for(session, copier).grade == "COPY"


@pytest.mark.parametrize("old, new, grade", list(itertools.product(
    list(grades.ATTENDANCE), list(grades.ATTENDANCE), [None, *grades.GRADES])))
def test_sql_and_python_twins_of_t6_agree(old, new, grade):
    expression = grades.grade_after_attendance_sql(sa.literal(old), sa.literal(grade, sa.String), new)
    from_sql = db.session.scalar(sa.select(expression))
    score_sql = db.session.scalar(sa.select(grades.score_sql(expression)))
    expected = grades.grade_after_attendance(old, new, grade)
    assert from_sql == expected
    assert score_sql == grades.score_of(expected)


def test_records_of_another_session_refuse_the_whole_change():
    setup = make_setup()
    s1, s2 = make_session(setup.klass, 1), make_session(setup.klass, 2)
    student = make_student(setup.klass)
    initialise(setup.teacher, s1, s2)
    mine, foreign = record_for(s1, student), record_for(s2, student)
    with pytest.raises(Forbidden):
        records.set_attendance(setup.teacher, s1.id, "noshow", [mine.id, foreign.id], today=s1.held_on)
    db.session.rollback()
    assert {r.attendance for r in records_of(s1) + records_of(s2)} == {"checked"}


def test_unknown_status_and_bad_ids_are_refused():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    make_student(setup.klass)
    initialise(setup.teacher, session)
    with pytest.raises(Invalid):
        records.set_attendance(setup.teacher, session.id, "asleep", None, today=session.held_on)
    with pytest.raises(Invalid):
        records.set_attendance(setup.teacher, session.id, "noshow", [str(2**31)], today=session.held_on)
    with pytest.raises(Invalid):
        records.set_attendance(setup.teacher, session.id, "noshow", ["1; DROP TABLE x"], today=session.held_on)
    with pytest.raises(Forbidden):
        records.set_attendance(make_user("teacher"), session.id, "noshow", None, today=session.held_on)


def test_bulk_and_grid_pages_set_attendance(client):
    setup = make_setup()
    session = make_session(setup.klass, 1)
    a, b, c = (make_student(setup.klass) for _ in range(3))
    initialise(setup.teacher, session)
    sign_in_as(client, setup.teacher)
    ra, rb, rc = (record_for(session, s) for s in (a, b, c))

    response = client.post(f"/teaching/sessions/{session.id}/attendance",
                           data={"bulk_status": "noshow", "scope": "selected", "record_ids": [ra.id, rb.id]})
    assert response.status_code == 302
    db.session.expire_all()
    assert [record_for(session, s).attendance for s in (a, b, c)] == ["noshow", "noshow", "checked"]

    response = client.post(f"/teaching/sessions/{session.id}/attendance/grid",
                           data={f"status-{ra.id}": "checked", f"status-{rb.id}": "late", f"status-{rc.id}": "vacate"})
    assert response.status_code == 302
    db.session.expire_all()
    assert [(record_for(session, s).attendance, record_for(session, s).grade) for s in (a, b, c)] == [
        ("checked", None), ("late", None), ("vacate", "N/A")]

    response = client.post(f"/teaching/sessions/{session.id}/attendance", data={"bulk_status": "late", "scope": "all"})
    assert response.status_code == 302
    db.session.expire_all()
    assert {r.attendance for r in records_of(session)} == {"late"}

    page = client.get(f"/teaching/sessions/{session.id}/attendance/grid".rsplit("/attendance", 1)[0] + "/")
    assert page.status_code == 200


def test_grid_with_a_bad_status_saves_nothing(client):
    setup = make_setup()
    session = make_session(setup.klass, 1)
    a, b = make_student(setup.klass), make_student(setup.klass)
    initialise(setup.teacher, session)
    sign_in_as(client, setup.teacher)
    ra, rb = record_for(session, a), record_for(session, b)
    response = client.post(f"/teaching/sessions/{session.id}/attendance/grid",
                           data={f"status-{ra.id}": "noshow", f"status-{rb.id}": "<script>"}, follow_redirects=True)
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True).split("</main>")[0].split("<main")[1]
    db.session.expire_all()
    assert {r.attendance for r in records_of(session)} == {"checked"}


def _warnings():
    return db.session.scalars(sa.select(Notification).where(Notification.kind == "teaching_absence_warning")).all()


def test_the_tutor_gets_one_absence_warning_after_n_no_shows(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ABSENCE_WARNING_AFTER", 2)
    setup = make_setup(tutor_email="tutor@example.com")
    sessions = [make_session(setup.klass, n) for n in range(1, 5)]
    truant, other = make_student(setup.klass, name="逃课生"), make_student(setup.klass)
    initialise(setup.teacher, *sessions)

    set_status(setup.teacher, sessions[0], "noshow", truant, other)
    assert _warnings() == []
    set_status(setup.teacher, sessions[1], "noshow", truant)
    set_status(setup.teacher, sessions[2], "noshow", truant)
    set_status(setup.teacher, sessions[2], "noshow", truant)

    [warning] = _warnings()
    assert warning.to_address == "tutor@example.com" and warning.recipient_id == setup.tutor.id
    assert "逃课生" in warning.subject and "逃课生" in warning.body_text
    assert warning.dedupe_key == f"teaching-absence:{setup.klass.id}:{truant.id}"


def test_the_absence_warning_names_the_class_in_the_tutors_language(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ABSENCE_WARNING_AFTER", 1)
    setup = make_setup(tutor_email="en-tutor@example.com")
    setup.tutor.locale = "en"  # the teacher who records attendance uses the Chinese UI
    session = make_session(setup.klass, 1)
    student = make_student(setup.klass)
    initialise(setup.teacher, session)
    set_status(setup.teacher, session, "noshow", student)

    [warning] = _warnings()
    course, n = setup.klass.course.name, setup.klass.semester
    english = f"{course} (cohort {n})"
    assert english in warning.subject and english in warning.body_text and english in warning.body_html
    assert "期" not in warning.subject + warning.body_text + warning.body_html


def test_no_warning_without_a_tutor_address_or_when_switched_off(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ABSENCE_WARNING_AFTER", 1)
    setup = make_setup(tutor_email=None)
    session = make_session(setup.klass, 1)
    student = make_student(setup.klass)
    initialise(setup.teacher, session)
    set_status(setup.teacher, session, "noshow", student)
    assert _warnings() == []
    monkeypatch.setitem(app.config, "CRM_ABSENCE_WARNING_AFTER", 0)
    setup2 = make_setup(tutor_email="t2@example.com")
    session2 = make_session(setup2.klass, 1)
    student2 = make_student(setup2.klass)
    initialise(setup2.teacher, session2)
    set_status(setup2.teacher, session2, "noshow", student2)
    assert _warnings() == []


@pytest.mark.committing
def test_absence_warning_reaches_the_tutor_through_the_worker_once(app, clean_database, celery_worker, smtp_server,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ABSENCE_WARNING_AFTER", 1)
    with app.app_context():
        setup = make_setup(tutor_email="banzhuren@example.com")
        session = make_session(setup.klass, 1)
        student = make_student(setup.klass, name="缺课生")
        initialise(setup.teacher, session)
        record_id = record_for(session, student).id
        teacher, session_id = setup.teacher.username, session.id
        db.session.remove()
    client = app.test_client()
    sign_in_as(client, teacher)

    def mark_absent():
        response = client.post(f"/teaching/sessions/{session_id}/attendance",
                               data={"bulk_status": "noshow", "scope": "selected", "record_ids": [record_id]})
        assert response.status_code == 302

    mark_absent()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["banzhuren@example.com"]
    assert "缺课生" in mail.message["Subject"]
    # SQLite has one writer: let the worker record the sending before the next save.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with app.app_context():
            status = db.session.scalar(sa.select(Notification.status).where(
                Notification.kind == "teaching_absence_warning"))
            db.session.remove()
        if status == "sent":
            break
        time.sleep(0.1)
    mark_absent()  # saved again: the dedupe key allows no second e-mail
    time.sleep(1.0)
    assert len(smtp_server.messages) == 1
    with app.app_context():
        assert len(_warnings()) == 1
        db.session.remove()
