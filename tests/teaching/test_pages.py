"""Teaching pages: my classes, sessions (T-1) with ugly input, roster, initialise from the page, exports."""
from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.extensions import db
from crm.teaching.models import CourseRecord
from tests.teaching.helpers import (
    START,
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


def _form(**changes):
    data = {"session_no": "1", "held_on": "2026-09-01", "teacher_id": "", "title": "第一课", "summary": "",
            "homework_title": "", "homework_description": "", "grading_points": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _sessions(klass):
    return list(db.session.scalars(sa.select(CourseRecord).where(CourseRecord.class_id == klass.id)))


def test_my_classes_lists_only_the_teachers_classes(client):
    setup = make_setup()
    other = make_setup()
    sign_in_as(client, setup.teacher)
    html = client.get("/teaching/").get_data(as_text=True)
    assert f'data-class="{setup.klass.id}"' in html and f'data-class="{other.klass.id}"' not in html
    sign_in_as(client, setup.tutor)
    html = client.get("/teaching/").get_data(as_text=True)
    assert f'data-class="{setup.klass.id}"' in html and f'data-class="{other.klass.id}"' not in html
    sign_in_as(client, make_user("ceo"))
    html = client.get("/teaching/").get_data(as_text=True)
    assert f'data-class="{setup.klass.id}"' in html and f'data-class="{other.klass.id}"' in html


def test_a_teacher_creates_and_edits_a_session(client):
    setup = make_setup()
    sign_in_as(client, setup.teacher)
    assert client.get(f"/teaching/classes/{setup.klass.id}/sessions/new").status_code == 200
    response = client.post(f"/teaching/classes/{setup.klass.id}/sessions/new",
                           data=_form(has_homework="y", homework_title="写一个函数", title="<script>x</script>"))
    assert response.status_code == 302
    [session] = _sessions(setup.klass)
    assert session.teacher_id == setup.teacher.id and session.has_homework and session.title == "<script>x</script>"
    html = client.get(f"/teaching/classes/{setup.klass.id}/").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html

    response = client.post(f"/teaching/sessions/{session.id}/edit", data=_form(session_no="2", title="第二课"))
    assert response.status_code == 302
    db.session.expire_all()
    assert (session.session_no, session.title, session.has_homework) == (2, "第二课", False)


def test_a_repeated_session_number_is_a_field_error_and_one_row(client):
    setup = make_setup()
    sign_in_as(client, setup.teacher)
    assert client.post(f"/teaching/classes/{setup.klass.id}/sessions/new", data=_form()).status_code == 302
    response = client.post(f"/teaching/classes/{setup.klass.id}/sessions/new", data=_form())
    assert response.status_code == 422
    assert 'data-field="session_no"' in response.get_data(as_text=True)
    assert len(_sessions(setup.klass)) == 1


@pytest.mark.parametrize("changes, field", [
    ({"session_no": ""}, "session_no"),
    ({"session_no": "abc"}, "session_no"),
    ({"session_no": str(2**31)}, "session_no"),
    ({"session_no": "-1"}, "session_no"),
    ({"held_on": "2026-02-30"}, "held_on"),
    ({"held_on": "\x00"}, "held_on"),
    ({"title": ""}, "title"),
    ({"title": "  \x00 "}, "title"),
    ({"title": "长" * 129}, "title"),
    ({"summary": "x" * 5001}, "summary"),
    ({"has_homework": "y", "homework_title": ""}, "homework_title"),
    ({"teacher_id": "999999"}, "teacher_id"),
    ({"teacher_id": "x"}, "teacher_id"),
])
def test_ugly_session_input_gives_field_messages_and_writes_nothing(client, changes, field):
    setup = make_setup()
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/classes/{setup.klass.id}/sessions/new", data=_form(**changes))
    assert response.status_code == 422
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert _sessions(setup.klass) == []


def test_another_teacher_cannot_open_or_edit_the_sessions(client):
    setup = make_setup()
    session = make_session(setup.klass, 1)
    sign_in_as(client, make_user("teacher"))
    assert client.get(f"/teaching/classes/{setup.klass.id}/").status_code == 403
    assert client.get(f"/teaching/sessions/{session.id}/").status_code == 403
    assert client.post(f"/teaching/sessions/{session.id}/edit", data=_form(title="hacked")).status_code == 403
    new = client.post(f"/teaching/classes/{setup.klass.id}/sessions/new", data=_form(session_no="5"))
    assert new.status_code == 403
    db.session.expire_all()
    assert [s.title for s in _sessions(setup.klass)] == ["第1课"]


def test_roster_shows_join_and_leave_dates(client):
    setup = make_setup()
    make_student(setup.klass, name="留下的", joined_on=START)
    make_student(setup.klass, name="走了的", joined_on=START, left_on=START + dt.timedelta(days=20))
    sign_in_as(client, setup.tutor)
    html = client.get(f"/teaching/classes/{setup.klass.id}/roster").get_data(as_text=True)
    assert "留下的" in html and "走了的" in html and "2026-09-21" in html


def test_initialise_from_the_class_page(client):
    setup = make_setup()
    s1, s2 = make_session(setup.klass, 1), make_session(setup.klass, 2)
    make_student(setup.klass)
    sign_in_as(client, setup.teacher)
    response = client.post(f"/teaching/classes/{setup.klass.id}/initialise", data={"session_ids": [s1.id]})
    assert response.status_code == 302
    assert len(records_of(s1)) == 1 and records_of(s2) == []
    for bad in (["x"], [str(2**31)], [], [str(make_session(make_setup().klass, 1).id)]):
        response = client.post(f"/teaching/classes/{setup.klass.id}/initialise", data={"session_ids": bad})
        assert response.status_code == 302
    assert records_of(s2) == []


def test_exports_stream_the_class_sheets(client):
    setup = make_setup()
    s1, s2 = make_session(setup.klass, 1), make_session(setup.klass, 2)
    a = make_student(setup.klass, name="=HYPERLINK(1)")
    b = make_student(setup.klass, name="乙")
    initialise(setup.teacher, s1, s2)
    set_status(setup.teacher, s1, "noshow", a)
    sign_in_as(client, setup.teacher)
    response = client.get(f"/teaching/classes/{setup.klass.id}/grades.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][1].startswith("#1") and rows[0][2].startswith("#2")
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["=HYPERLINK(1)"] == ("D", None) and by_name["乙"] == (None, None)
    response = client.get(f"/teaching/classes/{setup.klass.id}/attendance.xlsx")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert len(rows) == 3 and record_for(s1, b).attendance == "checked"
    sign_in_as(client, make_user("teacher"))
    assert client.get(f"/teaching/classes/{setup.klass.id}/grades.xlsx").status_code == 403


def test_my_classes_searches_sorts_and_pages_with_a_fixed_number_of_queries(client):
    from crm.org.models import Course
    from tests.factories import make_class

    teacher = make_user("teacher")
    go = Course(name="Go 语言")
    db.session.add(go)
    db.session.commit()
    classes = [make_class(teachers=[teacher], start_date=START + dt.timedelta(days=i)) for i in range(3)]
    golang = make_class(course=go, teachers=[teacher])
    sign_in_as(client, teacher)
    html = client.get("/teaching/?q=Go").get_data(as_text=True)
    assert f'data-class="{golang.id}"' in html and f'data-class="{classes[0].id}"' not in html
    assert client.get("/teaching/?q=%00Go").status_code == 400  # a control character is refused, not dropped
    html = client.get("/teaching/?q=%3Cscript%3E&sort=bogus&page=-5&per_page=999").get_data(as_text=True)
    assert 'data-class="' not in html.split('data-testid="my-classes"')[1]
    html = client.get("/teaching/?sort=start").get_data(as_text=True)
    order = [html.index(f'data-class="{k.id}"') for k in classes]
    assert order == sorted(order)

    before = _count_queries(client, "/teaching/")
    for i in range(5):
        make_class(teachers=[teacher, make_user("teacher")], tutor=make_user("tutor"))
    assert _count_queries(client, "/teaching/") == before


def _count_queries(client, path):
    db.session.expire_all()  # the request loads what it needs, whatever the test loaded before
    count = []

    def listener(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):  # not the test harness's SAVEPOINTs
            count.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    return len(count)


def test_an_empty_session_offers_to_initialise_itself(client):
    setup = make_setup()
    session = make_session(setup.klass, 1)
    make_student(setup.klass)
    sign_in_as(client, setup.teacher)
    html = client.get(f"/teaching/sessions/{session.id}/").get_data(as_text=True)
    assert 'id="initialise-this"' in html and f'name="session_ids" value="{session.id}"' in html
    sign_in_as(client, make_user("ceo"))
    html = client.get(f"/teaching/sessions/{session.id}/").get_data(as_text=True)
    assert 'data-testid="no-records"' in html and 'id="initialise-this"' not in html
