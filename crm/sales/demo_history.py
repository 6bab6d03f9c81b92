"""Demo students for `flask crm seed-demo`: converted leads with payments and enrolments (S-18, S-19).

Adds enrolled leads (with a converted history row, some after an earlier
loss by another consultant), their student accounts, deposits and tuition,
one class transfer, one drop-out with a refund, and placement details.
The pool, lost and following leads come from crm/sales/demo.py.
"""
from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.extensions import db
from crm.org.models import ClassList
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution, PaymentRecord
from crm.students.models import Enrollment, Student

DEMO_STUDENTS = 24
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = ["子涵", "雨轩", "浩然", "梓萱", "一诺", "思远", "欣怡", "俊杰"]


def seed_demo_history(users: dict[str, User], today: dt.date, password: str) -> int:
    """Insert converted leads with students, payments and enrolments; returns students added."""
    rng = random.Random(20260318)
    classes = list(db.session.scalars(sa.select(ClassList).order_by(ClassList.id)))
    consultants = [users[name] for name in ("sales1", "sales2", "sales3") if name in users]
    if not classes or not consultants:
        return 0
    student_role = db.session.scalar(sa.select(Role).where(Role.name == "student"))
    # One password hash for all demo students: hashing is deliberately slow.
    template = User(username="_", name="_")
    template.set_password(password)
    added = 0
    for i in range(DEMO_STUDENTS):
        qq = str(3200000000 + i)
        holder = consultants[i % len(consultants)]
        received = today - dt.timedelta(days=rng.randint(8, 50))
        paid_on = min(today, received + dt.timedelta(days=rng.randint(1, 12)))
        lead = Customer(
            qq=qq, name=rng.choice(SURNAMES) + rng.choice(GIVEN), gender=rng.choice([1, 2]),
            education=rng.randint(1, 8), source=rng.randint(1, 16), status=choices.ENROLLED,
            consultant_id=holder.id, inquiry_date=received - dt.timedelta(days=rng.randint(0, 5)),
            received_on=received, last_follow_up_on=paid_on, channel="demo",
            email=f"student{i}@mail.example" if i % 3 == 0 else None,
        )
        db.session.add(lead)
        db.session.flush()
        if i % 4 == 0:  # someone else lost it first; the loss stays on their record
            loser = consultants[(i + 1) % len(consultants)]
            lost_start = received - dt.timedelta(days=20)
            db.session.add(CustomerDistribution(
                customer_id=lead.id, consultant_id=loser.id, started_on=lost_start,
                ended_on=lost_start + dt.timedelta(days=4), status=choices.LOST_NO_FOLLOW_UP,
                origin=choices.ORIGIN_AUTO))
            lead.last_lost_by_id = loser.id
        db.session.add(CustomerDistribution(
            customer_id=lead.id, consultant_id=holder.id, started_on=received, ended_on=paid_on,
            status=choices.CONVERTED, origin=choices.ORIGIN_GRAB if i % 4 == 0 else choices.ORIGIN_AUTO))
        account = User(username=qq, name=lead.name, kind=User.KIND_STUDENT, active=True,
                       must_change_password=False, password_hash=template.password_hash, email=lead.email)
        account.roles = [student_role] if student_role else []
        db.session.add(account)
        db.session.flush()
        student = Student(customer_id=lead.id, user_id=account.id, emergency_contact=f"家长 138{i:08d}")
        if i % 5 == 0:
            student.company, student.location, student.position = "北京某科技有限公司", "北京", "Python 开发工程师"
            student.salary, student.placement_date = 9000 + 500 * (i % 4), today - dt.timedelta(days=3)
        db.session.add(student)
        db.session.flush()
        klass = classes[i % len(classes)]
        deal = klass.price - 1000 * (i % 3)
        db.session.add_all([
            PaymentRecord(customer_id=lead.id, class_id=klass.id, pay_type=choices.PAY_DEPOSIT, paid_amount=500,
                          deal_amount=deal, quoted_amount=klass.price, date=paid_on, consultant_id=holder.id,
                          created_by_id=holder.id, note="报名费"),
            PaymentRecord(customer_id=lead.id, class_id=klass.id, pay_type=choices.PAY_TUITION,
                          paid_amount=deal - 500, deal_amount=deal, date=paid_on, consultant_id=holder.id,
                          created_by_id=holder.id),
        ])
        enrollment = Enrollment(student_id=student.id, class_id=klass.id, joined_on=paid_on)
        db.session.add(enrollment)
        if i == 1:  # a class transfer
            moved_on = min(today, paid_on + dt.timedelta(days=3))
            enrollment.left_on, enrollment.end_reason = moved_on, "transfer"
            other = classes[(i + 1) % len(classes)]
            db.session.add(Enrollment(student_id=student.id, class_id=other.id, joined_on=moved_on))
            db.session.add(PaymentRecord(customer_id=lead.id, class_id=other.id, pay_type=choices.PAY_TRANSFER,
                                         paid_amount=0, date=moved_on, consultant_id=holder.id, note="转周末班"))
        elif i == 2:  # a drop-out with a partial refund
            left_on = min(today, paid_on + dt.timedelta(days=5))
            enrollment.left_on, enrollment.end_reason = left_on, "drop_out"
            db.session.add_all([
                PaymentRecord(customer_id=lead.id, class_id=klass.id, pay_type=choices.PAY_DROP_OUT, paid_amount=0,
                              date=left_on, consultant_id=holder.id, note="个人原因退学"),
                PaymentRecord(customer_id=lead.id, class_id=klass.id, pay_type=choices.PAY_REFUND,
                              paid_amount=3000, date=left_on, consultant_id=holder.id, note="退部分学费"),
            ])
        added += 1
    db.session.flush()
    return added
