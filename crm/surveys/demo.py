"""Demo survey for `flask crm seed-demo` (P-8): one open survey of a demo class with some answers."""
from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from crm.auth.models import User
from crm.core.areas import DemoContext
from crm.core.clock import utcnow
from crm.extensions import db
from crm.students.services import enrolled_on, student_for_user
from crm.surveys.answering import submit_answers
from crm.surveys.services import OptionData, QuestionData, SurveyData, create_survey, publish_survey

COMMENTS = [
    "老师讲得很清楚，项目实战部分特别有帮助，希望多一些练习题。",
    "课程节奏有点快，晚上的复习资料如果能提前发就更好了。",
    "班主任很负责，每次问题都能及时回复，学习氛围很好。",
    "希望增加一些面试题讲解和简历指导的内容，谢谢老师们。",
]


def _pick_class(context: DemoContext):
    """The demo student's class when they have one, else the demo class with the most students."""
    student = student_for_user(context.users["student1"].id) if "student1" in context.users else None
    best, best_students = None, []
    for klass in context.classes:
        students = enrolled_on(klass.id, context.today)
        if student is not None and any(s.id == student.id for s in students):
            return klass, students
        if len(students) > len(best_students):
            best, best_students = klass, students
    return best, best_students


def seed_surveys(context: DemoContext) -> None:
    """An open, shared survey of one class, answered by all but one of its students."""
    if not context.classes:
        return
    klass, students = _pick_class(context)
    if klass is None:
        klass, students = context.classes[0], _add_students(context, context.classes[0])
    tutor = db.session.get(User, klass.tutor_id) if klass.tutor_id else None
    author = tutor or context.users["admin"]
    now = utcnow().replace(second=0, microsecond=0)
    data = SurveyData(
        title="第一阶段教学满意度调查", opens_at=now - dt.timedelta(days=2), closes_at=now + dt.timedelta(days=5),
        anonymous=False,
        questions=[
            QuestionData(None, "score", "你对讲师的授课质量打几分？"),
            QuestionData(None, "choice", "课程进度对你来说：", [
                OptionData(None, "太快", 1), OptionData(None, "合适", 3), OptionData(None, "太慢", 2)]),
            QuestionData(None, "score", "你对班主任的服务打几分？"),
            QuestionData(None, "text", "对课程和老师有什么建议？"),
        ],
    )
    survey = create_survey(author, klass.id, data, now=now - dt.timedelta(days=2))
    publish_survey(author, survey.id, now=now - dt.timedelta(days=2))
    rng = random.Random(60)
    questions = survey.questions
    demo_student = student_for_user(context.users["student1"].id) if "student1" in context.users else None
    answering = [s for s in students if demo_student is None or s.id != demo_student.id][:-1] or students[:1]
    for student in answering:
        answers = {}
        for question in questions:
            if question.kind == "score":
                answers[question.id] = str(rng.choice([6, 7, 8, 8, 9, 9, 10]))
            elif question.kind == "choice":
                answers[question.id] = str(rng.choice(question.options).id)
            else:
                answers[question.id] = rng.choice(COMMENTS)
        submit_answers(student.user_id, survey.id, answers, now=now)
    db.session.flush()


def _add_students(context: DemoContext, klass):
    """Three students for a class that has none (their lead rows are minimal demo leads)."""
    from crm.auth.models import Role
    from crm.sales.models import Customer
    from crm.students.models import Enrollment, Student

    role = db.session.scalar(sa.select(Role).where(Role.name == "student"))
    template = User(username="_", name="_")
    template.set_password(context.password)
    for i in range(3):
        name = f"问卷同学{i + 1}"
        user = User(username=f"survey{i + 1}", name=name, kind=User.KIND_STUDENT, active=True,
                    must_change_password=False, password_hash=template.password_hash)
        user.roles = [role] if role else []
        lead = Customer(qq=str(3300000000 + i), name=name, gender=1, source=1, status=2,
                        inquiry_date=context.today, channel="demo")
        db.session.add_all([user, lead])
        db.session.flush()
        student = Student(customer_id=lead.id, user_id=user.id)
        db.session.add(student)
        db.session.flush()
        db.session.add(Enrollment(student_id=student.id, class_id=klass.id, joined_on=context.today))
    db.session.flush()
    return enrolled_on(klass.id, context.today)
