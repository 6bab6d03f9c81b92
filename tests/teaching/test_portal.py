"""Student portal (T-8): home page of students, chart data without label grades, averages, access."""
from __future__ import annotations

import html as html_lib
import json
import re

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.teaching import grades, portal
from tests.teaching.helpers import initialise, make_session, make_setup, make_student, make_user, record_for, sign_in_as


def _grade(session, student, code, attendance="checked"):
    record = record_for(session, student)
    record.attendance, record.grade, record.score = attendance, code, grades.score_of(code)
    db.session.commit()


def _lesson_with_grades():
    setup = make_setup()
    sessions = [make_session(setup.klass, n) for n in range(1, 6)]
    student = make_student(setup.klass, name="冯同学")
    classmate = make_student(setup.klass)
    initialise(setup.teacher, *sessions)
    for session, code in zip(sessions, ["A", "N/A", "COPY", "B", "FAIL"]):
        _grade(session, student, code, "vacate" if code == "N/A" else "checked")
    return setup, sessions, student, classmate


def _charts(html: str) -> list[dict]:
    return [json.loads(html_lib.unescape(raw)) for raw in re.findall(r'data-chart="([^"]*)"', html)]


def test_a_student_signs_in_and_lands_on_their_portal(client):
    _setup, _sessions, student, _mate = _lesson_with_grades()
    response = sign_in_as(client, student.user)
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/teaching/portal")
    page = client.get("/teaching/portal")
    assert page.status_code == 200
    assert "Your account has no pages yet" not in page.get_data(as_text=True)


def test_staff_are_not_redirected_to_the_portal(client):
    sign_in_as(client, make_user("teacher"))
    assert client.get("/").status_code == 200


def test_the_chart_and_average_leave_out_label_grades(client):
    _setup, _sessions, student, _mate = _lesson_with_grades()
    sign_in_as(client, student.user)
    html = client.get("/teaching/portal").get_data(as_text=True)
    [chart] = _charts(html)
    assert [p["label"] for p in chart["points"]] == ["#1", "#2", "#3", "#4", "#5"]
    assert [p["score"] for p in chart["points"]] == [90, None, None, 80, None]
    assert [p["grade"] for p in chart["points"]] == ["A", "N/A", "COPY", "B", "FAIL"]
    assert re.search(r'data-testid="average">[^<]*85\.0', html)
    labels = html.split('data-testid="grade-labels"')[1].split("</ul>")[0]
    assert "#2 N/A" in labels and "#3 COPY" in labels and "#5 FAIL" in labels and "#1" not in labels
    breakdown = html.split('data-testid="attendance-breakdown"')[1].split("</ul>")[0]
    assert re.search(r'data-status="checked">.*?<span class="fw-bold">4</span>', breakdown, re.S)
    assert re.search(r'data-status="vacate">.*?<span class="fw-bold">1</span>', breakdown, re.S)


def test_progress_average_ignores_label_grades_and_ungraded():
    _setup, sessions, student, _mate = _lesson_with_grades()
    [progress] = portal.progress(student.user, student)
    assert progress.average == 85.0
    assert [p["score"] for p in progress.chart["points"]] == [90, None, None, 80, None]


def test_a_student_without_records_sees_an_empty_portal(client):
    user = make_user("student", kind=User.KIND_STUDENT)
    sign_in_as(client, user)
    page = client.get("/teaching/portal")
    assert page.status_code == 200 and 'data-testid="no-student"' in page.get_data(as_text=True)


def test_teachers_and_tutors_of_the_class_see_the_portal_others_get_403(client):
    setup, _sessions, student, classmate = _lesson_with_grades()
    url = f"/teaching/students/{student.id}/"
    for viewer, status in [(setup.teacher, 200), (setup.tutor, 200), (make_user("admin"), 200),
                           (make_user("ceo"), 200), (make_user("teacher"), 403), (make_user("tutor"), 403),
                           (make_user("consultant"), 403), (classmate.user, 403), (student.user, 403)]:
        sign_in_as(client, viewer)
        assert client.get(url).status_code == status, viewer.username
    sign_in_as(client, setup.teacher)
    assert client.get("/teaching/students/2147483647/").status_code == 404
    assert client.get("/teaching/students/99999999999/").status_code == 404


def test_a_student_sees_only_their_own_records(client):
    _setup, sessions, student, classmate = _lesson_with_grades()
    _grade(sessions[0], classmate, "C-")
    sign_in_as(client, classmate.user)
    html = client.get("/teaching/portal").get_data(as_text=True)
    [chart] = _charts(html)
    assert [p["grade"] for p in chart["points"]] == ["C-", "", "", "", ""]
    assert "冯同学" not in html


def test_the_portal_takes_a_fixed_number_of_queries(client, app):
    setup = make_setup()
    student = make_student(setup.klass)
    sign_in_as(client, student.user)

    def count_queries():
        statements = []

        def listener(*_args):
            statements.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/teaching/portal").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    initialise(setup.teacher, make_session(setup.klass, 1))
    small = count_queries()
    initialise(setup.teacher, *[make_session(setup.klass, n) for n in range(2, 30)])
    assert count_queries() == small


def test_a_teacher_sees_only_their_own_class_of_a_student_in_two_classes(client):
    from crm.students.models import Enrollment

    mine, theirs = make_setup(), make_setup()
    student = make_student(mine.klass)
    db.session.add(Enrollment(student_id=student.id, class_id=theirs.klass.id, joined_on=mine.klass.start_date))
    db.session.commit()
    initialise(mine.teacher, make_session(mine.klass, 1))
    initialise(theirs.teacher, make_session(theirs.klass, 1))
    sign_in_as(client, mine.teacher)
    html = client.get(f"/teaching/students/{student.id}/").get_data(as_text=True)
    assert f'data-class="{mine.klass.id}"' in html and f'data-class="{theirs.klass.id}"' not in html
    sign_in_as(client, student.user)
    html = client.get("/teaching/portal").get_data(as_text=True)
    assert f'data-class="{mine.klass.id}"' in html and f'data-class="{theirs.klass.id}"' in html


def test_score_entry_takes_a_fixed_number_of_queries(client):
    setup = make_setup()
    session = make_session(setup.klass, 1)
    make_student(setup.klass)
    initialise(setup.teacher, session)
    sign_in_as(client, setup.teacher)

    def selects():
        db.session.expire_all()
        found = []

        def listener(_conn, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("SELECT"):
                found.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/teaching/sessions/{session.id}/scores").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(found)

    few = selects()
    for _ in range(12):
        make_student(setup.klass)
    initialise(setup.teacher, session)
    assert selects() == few
