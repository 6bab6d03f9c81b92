"""seed-demo's teaching part: student1 is a student of teacher1 with a chart on their portal at once."""
from __future__ import annotations

import html as html_lib
import json
import re

import sqlalchemy as sa

from crm.auth.models import User
from crm.demo import seed_demo
from crm.extensions import db
from crm.students.services import student_for_user
from crm.teaching.models import CourseRecord, StudyRecord
from tests.factories import login


def test_seed_demo_gives_student1_a_portal_with_a_chart(app, client, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_HOMEWORK_DIR", str(tmp_path))
    assert seed_demo(password="demo-pass-1") is True
    db.session.commit()
    student_user = db.session.scalar(sa.select(User).where(User.username == "student1"))
    student = student_for_user(student_user.id)
    assert student is not None and student.customer.status == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CourseRecord)) > 10
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StudyRecord).where(
        StudyRecord.grade.is_not(None))) > 10
    handed_in = db.session.scalar(sa.select(StudyRecord).where(
        StudyRecord.student_id == student.id, StudyRecord.submitted_at.is_not(None)))
    assert handed_in is not None and (tmp_path / handed_in.homework_file).is_file()
    # student1's class is taught by teacher1
    teacher_names = {t.username for t in handed_in.course_record.class_list.teachers}
    assert teacher_names == {"teacher1"}

    login(client, "student1", "demo-pass-1")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/teaching/portal")
    html = client.get("/teaching/portal").get_data(as_text=True)
    charts = [json.loads(html_lib.unescape(raw)) for raw in re.findall(r'data-chart="([^"]*)"', html)]
    chart = charts[0]  # the class of teacher1, joined first
    scores = [p["score"] for p in chart["points"]]
    assert len([s for s in scores if s is not None]) >= 4
    assert {"N/A", "FAIL"} <= {p["grade"] for p in chart["points"]}
