"""Score entry (T-5): one transaction, only grade and homework note of that session's records."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from crm.core.audit import AuditLog
from crm.core.clock import utcnow
from crm.core.errors import Forbidden
from crm.extensions import db
from crm.teaching import records
from crm.teaching.records import ScoreEntry
from tests.teaching.helpers import (
    initialise,
    make_session,
    make_setup,
    make_student,
    make_user,
    record_for,
    set_status,
    sign_in_as,
)


@pytest.fixture
def lesson():
    setup = make_setup()
    session = make_session(setup.klass, 1)
    other_session = make_session(setup.klass, 2)
    students = [make_student(setup.klass, name=f"学生{n}") for n in range(3)]
    initialise(setup.teacher, session, other_session)
    return setup, session, other_session, students


def _state(*rows):
    db.session.expire_all()
    return [(r.attendance, r.grade, r.score, r.homework_note, r.note, r.student_id) for r in
            (db.session.get(type(row), row.id) for row in rows)]


def test_teacher_saves_grades_and_notes_in_one_post(client, lesson):
    setup, session, _other, students = lesson
    ra, rb, rc = (record_for(session, s) for s in students)
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/sessions/{session.id}/scores", data={
        f"grade-{ra.id}": "A+", f"note-{ra.id}": "很好 <b>棒</b>",
        f"grade-{rb.id}": "COPY", f"note-{rb.id}": "",
        f"grade-{rc.id}": "", f"note-{rc.id}": "未交",
    })
    assert response.status_code == 302
    assert [s[1:4] for s in _state(ra, rb, rc)] == [("A+", 100, "很好 <b>棒</b>"), ("COPY", None, None),
                                                    (None, None, "未交")]
    page = client.get(f"/teaching/sessions/{session.id}/scores").get_data(as_text=True)
    assert "很好 &lt;b&gt;棒&lt;/b&gt;" in page and "<b>棒</b>" not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "teaching.score")) == 1


@pytest.mark.parametrize("extra", [
    {"score-{a}": "100"},
    {"attendance-{a}": "checked"},
    {"student_id": "1"},
    {"status-{a}": "checked"},
    {"grade-{foreign}": "A"},
    {"grade-99999999": "A"},
    {"grade-{big}": "A"},
    {"note-{a}x": "x"},
])
def test_crafted_posts_are_refused_and_nothing_is_saved(client, lesson, extra):
    setup, session, other_session, students = lesson
    ra = record_for(session, students[0])
    foreign = record_for(other_session, students[0])
    before = _state(ra, foreign)
    data = {f"grade-{ra.id}": "A", f"note-{ra.id}": "ok"}
    data.update({key.format(a=ra.id, foreign=foreign.id, big=2**31): value for key, value in extra.items()})
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/sessions/{session.id}/scores", data=data)
    assert response.status_code == 403
    assert _state(ra, foreign) == before


def test_a_repeated_field_is_refused(client, lesson):
    setup, session, _other, students = lesson
    ra = record_for(session, students[0])
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/sessions/{session.id}/scores",
                           data=MultiDict([(f"grade-{ra.id}", "A"), (f"grade-{ra.id}", "D")]))
    assert response.status_code == 403
    assert _state(ra)[0][1] is None


def test_a_bad_grade_shows_a_field_message_and_saves_nothing(client, lesson):
    setup, session, _other, students = lesson
    ra, rb = record_for(session, students[0]), record_for(session, students[1])
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/sessions/{session.id}/scores", data={
        f"grade-{ra.id}": "A", f"grade-{rb.id}": "Z\x00<script>", f"note-{rb.id}": "x" * 300})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'data-field="grade-{rb.id}"' in html and f'data-field="note-{rb.id}"' in html
    assert "<script>" not in html.split('data-testid="scores"')[1].split("</table>")[0]
    assert [s[1] for s in _state(ra, rb)] == [None, None]


def test_absent_students_can_only_keep_d_copy_or_fail(client, lesson):
    setup, session, _other, students = lesson
    set_status(setup.teacher, session, "noshow", students[0])
    ra = record_for(session, students[0])
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/sessions/{session.id}/scores", data={f"grade-{ra.id}": "A"})
    assert response.status_code == 422
    assert _state(ra)[0][1:3] == ("D", 0)
    response = client.post(f"/teaching/sessions/{session.id}/scores", data={f"grade-{ra.id}": "COPY"})
    assert response.status_code == 302
    assert _state(ra)[0][1:3] == ("COPY", None)


def test_a_teacher_of_another_class_cannot_enter_scores(client, lesson):
    _setup, session, _other, students = lesson
    ra = record_for(session, students[0])
    sign_in_as(client, make_user("teacher"))
    assert client.get(f"/teaching/sessions/{session.id}/scores").status_code == 403
    assert client.post(f"/teaching/sessions/{session.id}/scores", data={f"grade-{ra.id}": "A"}).status_code == 403
    assert _state(ra)[0][1] is None


def test_the_service_refuses_records_of_another_session(lesson):
    setup, session, other_session, students = lesson
    foreign = record_for(other_session, students[0])
    with pytest.raises(Forbidden):
        records.enter_scores(setup.teacher, session.id, {foreign.id: ScoreEntry(grade="A")}, now=utcnow())
