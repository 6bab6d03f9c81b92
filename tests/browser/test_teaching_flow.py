"""Browser: a teacher runs a lesson (new session, initialise, two absences, grades); the student sees it."""
from __future__ import annotations

import html as html_lib
import json

import sqlalchemy as sa

from crm.extensions import db
from tests.browser.conftest import sign_in, sign_out


def _student1_class_id(app) -> int:
    """The class of teacher1 that student1 studies in (the demo data puts them there)."""
    from crm.auth.models import User
    from crm.org.models import ClassList, class_teachers
    from crm.students.models import Enrollment, Student

    with app.app_context():
        class_id = db.session.scalar(
            sa.select(ClassList.id).join(Enrollment, Enrollment.class_id == ClassList.id)
            .join(Student, Student.id == Enrollment.student_id).join(User, User.id == Student.user_id)
            .join(class_teachers, class_teachers.c.class_id == ClassList.id)
            .where(User.username == "student1", Enrollment.left_on.is_(None),
                   class_teachers.c.user_id == sa.select(User.id).where(User.username == "teacher1")
                   .scalar_subquery())
            .order_by(ClassList.start_date).limit(1)
        )
        db.session.remove()
    return class_id


def test_teacher_runs_a_lesson_and_the_student_sees_the_grade(page, live_server, artifacts_dir):
    class_id = _student1_class_id(live_server.app)
    sign_in(page, live_server, "teacher1")
    page.click("[data-endpoint='teaching.my_classes']")
    page.click(f"tr[data-class='{class_id}'] a")
    page.wait_for_selector("[data-testid=sessions]")

    # A new session for today's lesson.
    page.click("#new-session")
    new_number = page.input_value("input[name=session_no]")
    page.fill("input[name=title]", "装饰器与闭包")
    page.click("#save-session")
    row = page.locator(f"tr[data-session-no='{new_number}']")
    row.wait_for()
    assert row.locator("[data-col=records]").inner_text() == "0"

    # Initialise the students of that session (bulk action on the selected session).
    row.locator("input[name=session_ids]").check()
    page.click("#initialise-selected")
    page.wait_for_selector(".alert-success")
    records = int(page.locator(f"tr[data-session-no='{new_number}'] [data-col=records]").inner_text())
    assert records >= 3
    page.screenshot(path=str(artifacts_dir / "teaching_flow_1_initialised.png"), full_page=True)

    # Two absences, marked in one bulk action.
    page.click(f"tr[data-session-no='{new_number}'] a:has-text('装饰器与闭包')")
    page.wait_for_selector("[data-testid=records]")
    others = page.locator("tr[data-record]:not([data-student-name='冯同学'])")
    absent_names = [others.nth(i).get_attribute("data-student-name") for i in range(2)]
    for name in absent_names:
        page.locator(f"tr[data-student-name='{name}'] input[name=record_ids]").check()
    page.select_option("#bulk_status", "noshow")
    page.click("#bulk-selected")
    page.wait_for_selector(".alert-success")
    for name in absent_names:
        assert page.locator(f"tr[data-student-name='{name}'] [data-col=grade]").inner_text() == "D"
    page.screenshot(path=str(artifacts_dir / "teaching_flow_2_absences.png"), full_page=True)

    # Grades for everyone present, one page, one save.
    page.click("#open-scores")
    page.wait_for_selector("[data-testid=scores]")
    score_rows = page.locator("tr[data-record]")
    for i in range(score_rows.count()):
        current = score_rows.nth(i)
        name = current.get_attribute("data-student-name")
        if name in absent_names:
            assert current.locator("select").input_value() == "D"
            continue
        current.locator("select").select_option("A" if name == "冯同学" else "B+")
        current.locator("input").fill("按时完成" if name == "冯同学" else "")
    page.click("#save-scores")
    page.wait_for_selector(".alert-success")
    assert page.locator("tr[data-student-name='冯同学'] select").input_value() == "A"
    page.screenshot(path=str(artifacts_dir / "teaching_flow_3_scores.png"), full_page=True)
    sign_out(page)

    # The student signs in and lands on the portal with the new grade in the chart.
    sign_in(page, live_server, "student1")
    assert page.url.endswith("/teaching/portal")
    section = page.locator(f"[data-testid=portal-class][data-class='{class_id}']")
    canvas = section.locator("canvas.js-grade-chart")
    canvas.wait_for()
    page.wait_for_function("c => c.dataset.rendered !== undefined", arg=canvas.element_handle())
    chart = json.loads(html_lib.unescape(canvas.get_attribute("data-chart")))
    last = chart["points"][-1]
    assert (last["label"], last["grade"], last["score"]) == (f"#{new_number}", "A", 90)
    assert "N/A" in {p["grade"] for p in chart["points"] if p["score"] is None}
    assert int(canvas.get_attribute("data-rendered")) == len(chart["points"])
    assert section.locator("tr[data-record]").last.locator("[data-col=grade]").inner_text() == "A"
    page.screenshot(path=str(artifacts_dir / "teaching_flow_4_portal.png"), full_page=True)

    # Homework: hand in a file for a session that has homework and is not graded yet.
    form = section.locator("[data-testid=homework-form]").first
    record_row = form.locator("xpath=ancestor::tr[1]")
    record_id = record_row.get_attribute("data-record")
    form.locator("input[name=file]").set_input_files(
        {"name": "作业.py", "mimeType": "text/x-python", "buffer": "print('装饰器')\n".encode()})
    form.locator("input[name=memo]").fill("请老师看看")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".alert-success")
    assert page.locator(f"tr[data-record='{record_id}'] a:has-text('作业.py')").count() == 1
