"""Realistic demo data for `flask crm seed-demo` (P-8).

This module seeds the accounts and the org data every area needs, then runs
each area's registered step (crm.core.areas.register_seeder) in order.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import Department, User
from crm.auth.services import create_user, seed_departments, sync_rbac
from crm.core.areas import DemoContext, seeders
from crm.core.clock import today
from crm.extensions import db
from crm.org.models import ClassList, Course, School

# username, display name, role, department code
DEMO_ACCOUNTS = [
    ("admin", "系统管理员", "admin", None),
    ("ceo", "王总", "ceo", None),
    ("director", "李销售总监", "sales_director", 1006),
    ("sales1", "张顾问", "consultant", 1005),
    ("sales2", "刘顾问", "consultant", 1005),
    ("sales3", "陈顾问", "consultant", 1005),
    ("tutor1", "赵班主任", "tutor", 1002),
    ("tutor2", "孙班主任", "tutor", 1002),
    ("teacher1", "周老师", "teacher", 1003),
    ("teacher2", "吴老师", "teacher", 1004),
    ("staff1", "郑前台", "staff", 1000),
    ("student1", "冯同学", "student", None),
]

SCHOOLS = ["北京昌平校区", "上海浦东校区"]
COURSES = ["Python 全栈开发", "Go 语言开发", "Linux 运维架构", "前端开发"]


def seed_demo(password: str = "demo1234") -> bool:
    """Create demo org data and accounts; False when they already exist."""
    sync_rbac()
    seed_departments()
    if db.session.scalar(sa.select(User.id).where(User.username == "admin")):
        return False
    departments = {d.code: d.id for d in db.session.scalars(sa.select(Department))}
    users: dict[str, User] = {}
    for username, name, role, dept in DEMO_ACCOUNTS:
        kind = User.KIND_STUDENT if role == "student" else User.KIND_STAFF
        user, _ = create_user(
            None, username=username, name=name, password=password, email=f"{username}@school.example",
            department_id=departments.get(dept) if dept else None, kind=kind,
            role_names=[role], must_change_password=False,
        )
        users[username] = user
    schools = [School(title=t) for t in SCHOOLS]
    courses = [Course(name=n) for n in COURSES]
    db.session.add_all(schools + courses)
    db.session.flush()
    start = today() - dt.timedelta(days=60)
    plan = [(0, 0, 1), (0, 0, 2), (0, 1, 1), (1, 2, 1), (1, 3, 1), (1, 0, 3)]
    classes: list[ClassList] = []
    for i, (s, c, semester) in enumerate(plan):
        klass = ClassList(
            school_id=schools[s].id, course_id=courses[c].id, semester=semester,
            price=19800 + 1000 * c, start_date=start + dt.timedelta(days=30 * (i % 3)),
            graduate_date=start + dt.timedelta(days=180 + 30 * (i % 3)),
            memo="周末班" if i % 2 else "全日制",
            tutor_id=users["tutor1" if i % 2 == 0 else "tutor2"].id,
        )
        klass.teachers = [users["teacher1" if c != 1 else "teacher2"]]
        db.session.add(klass)
        classes.append(klass)
    db.session.flush()
    context = DemoContext(today=today(), password=password, users=users, schools=schools, courses=courses,
                          classes=classes)
    for seeder in seeders(current_app):  # each area's part, in order (crm.core.areas.register_seeder)
        seeder.run(context)
        db.session.flush()
    return True
