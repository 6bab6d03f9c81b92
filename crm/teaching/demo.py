"""Teaching demo data for `flask crm seed-demo`: sessions, records, grades and homework (P-8, T-8).

The demo student (``student1``) gets a Student row (with an enrolled lead) in a
class taught by ``teacher1``, so their portal shows a chart at once. Every demo
class gets a few sessions, initialised through the same statement as the
bulk action (T-3), with attendance and grades set by the T-6 rule.
"""
from __future__ import annotations

import datetime as dt
import io
import random

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer
from crm.students.models import Enrollment, Student
from crm.students.services import student_for_user
from crm.teaching import grades
from crm.teaching.models import CourseRecord, StudyRecord
from crm.teaching.services import initialise_statement

TOPICS = ["开发环境与基础语法", "数据类型与控制流", "函数与模块", "面向对象", "文件与异常", "网络编程",
          "数据库基础", "Web 框架入门", "项目实战（一）", "项目实战（二）"]
SESSIONS_PER_CLASS = 8
DEMO_HOMEWORK = b"# homework\nprint('hello, campus')\n"


def _ensure_demo_student(context) -> Student | None:
    """student1 as a student in the longest-running class of teacher1.

    P-8 promises 300 demo leads, so student1 takes over one of the enrolled demo
    leads of the sales step (its placeholder account is removed) rather than
    adding a lead; without sales demo data a lead is created for it.
    """
    user = context.users.get("student1")
    teacher = context.users.get("teacher1")
    if user is None or teacher is None or not context.classes:
        return None
    taught = [c for c in context.classes if teacher in c.teachers] or list(context.classes)
    klass = min(taught, key=lambda c: (c.start_date, c.id))
    student = student_for_user(user.id)
    if student is None:
        student = _take_over_demo_student(user, klass)
    if student is None:
        lead = Customer(qq="3300000001", name=user.name, gender=1, source=1, status=choices.ENROLLED,
                        inquiry_date=klass.start_date - dt.timedelta(days=10), channel="demo")
        db.session.add(lead)
        db.session.flush()
        student = Student(customer_id=lead.id, user_id=user.id, memo="演示学员")
        db.session.add(student)
        db.session.flush()
    in_class = db.session.scalar(sa.select(Enrollment.id).where(
        Enrollment.student_id == student.id, Enrollment.class_id == klass.id, Enrollment.left_on.is_(None)))
    if in_class is None:
        db.session.add(Enrollment(student_id=student.id, class_id=klass.id, joined_on=klass.start_date))
        db.session.flush()
    return student


def _take_over_demo_student(user: User, klass) -> Student | None:
    """Give student1 an enrolled demo lead of the sales step (one in another class, so it has two)."""
    candidate = db.session.scalar(
        sa.select(Student).join(Enrollment, Enrollment.student_id == Student.id)
        .join(User, User.id == Student.user_id)
        .where(Enrollment.left_on.is_(None), Enrollment.class_id != klass.id, User.kind == User.KIND_STUDENT,
               User.id != user.id)
        .order_by(Student.id).limit(1)
    )
    if candidate is None:
        return None
    placeholder = candidate.user
    candidate.user_id = user.id
    candidate.customer.name = user.name
    db.session.flush()
    db.session.expire(candidate, ["user"])
    db.session.delete(placeholder)
    db.session.flush()
    return candidate


def seed_teaching_area(context) -> None:
    """The teaching step of `flask crm seed-demo`."""
    from crm.core.clock import utcnow

    rng = random.Random(20261201)
    demo_student = _ensure_demo_student(context)
    today = context.today
    session_ids = []
    for klass in context.classes:
        teacher_id = klass.teachers[0].id if klass.teachers else None
        for number in range(1, SESSIONS_PER_CLASS + 1):
            held_on = klass.start_date + dt.timedelta(days=7 * (number - 1))
            if held_on > today:
                break
            session = CourseRecord(
                class_id=klass.id, session_no=number, teacher_id=teacher_id, held_on=held_on,
                title=TOPICS[(number - 1) % len(TOPICS)], summary="课堂讲解与练习",
                has_homework=number % 2 == 1, homework_title=f"第 {number} 次作业" if number % 2 == 1 else None,
                homework_description="完成课堂练习并提交代码" if number % 2 == 1 else None,
                grading_points="代码能运行；命名清楚；有注释",
            )
            db.session.add(session)
            db.session.flush()
            session_ids.append(session.id)
    if not session_ids:
        return
    now = utcnow()
    db.session.execute(initialise_statement(session_ids, now))
    numeric = [code for code in grades.NUMERIC_GRADES if code != "D"]
    rows = db.session.scalars(sa.select(StudyRecord).join(CourseRecord).order_by(StudyRecord.id))
    for record in rows:
        roll = rng.random()
        if roll < 0.07:
            record.attendance, record.grade = grades.NOSHOW, grades.NOSHOW_GRADE
        elif roll < 0.12:
            record.attendance, record.grade = grades.VACATE, grades.VACATE_GRADE
        else:
            record.attendance = grades.LATE if roll < 0.16 else grades.CHECKED
            record.grade = "COPY" if roll > 0.985 else rng.choice(numeric[:6])
        record.score = grades.score_of(record.grade)
        record.graded_at = now
        if demo_student is not None and record.student_id == demo_student.id:
            _demo_student_record(record, now)
    db.session.flush()


def _demo_student_record(record: StudyRecord, now) -> None:
    """student1's records: every kind of grade once, and one homework handed in but not graded yet."""
    session = record.course_record
    plan = {1: "A", 2: "B+", 3: "N/A", 4: "A+", 5: "B", 6: "FAIL", 7: None, 8: "A"}
    grade = plan.get(session.session_no, "B")
    record.attendance = grades.VACATE if grade == "N/A" else grades.CHECKED
    record.grade, record.score = grade, grades.score_of(grade)
    record.graded_at = now if grade else None
    record.homework_note = "思路清楚" if grade in ("A", "A+") else None
    if session.has_homework and grade is None:  # handed in, waiting for the teacher
        from crm.core import uploads
        from crm.teaching.homework import homework_folder

        stored = uploads.save_upload(io.BytesIO(DEMO_HOMEWORK), "homework.py", folder=homework_folder(),
                                     allowed=uploads.allowed_types(["txt"]), max_bytes=1024 * 1024)
        record.homework_file, record.homework_filename = stored.storage_name, stored.display_name
        record.homework_size, record.submitted_at = stored.size, now
        record.student_memo = "第一次用函数拆分，请老师指点"
