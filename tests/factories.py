"""Test data factories and the login helper."""
from __future__ import annotations

import datetime as dt
import itertools

import sqlalchemy as sa

from crm.auth.models import Department, Role, User
from crm.extensions import db
from crm.org.models import ClassList, Course, School

PASSWORD = "secret-pass-1"
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    """A unique string for names that must not collide."""
    return f"{prefix}{next(_seq)}"


def make_user(*roles: str, username: str | None = None, name: str | None = None, password: str = PASSWORD,
              active: bool = True, kind: str = User.KIND_STAFF, department_code: int | None = None,
              email: str | None = None, must_change_password: bool = False) -> User:
    """A user holding the named default roles."""
    username = username or unique("user")
    user = User(username=username, name=name or username, kind=kind, active=active,
                must_change_password=must_change_password, email=email)
    user.set_password(password)
    if roles:
        user.roles = list(db.session.scalars(sa.select(Role).where(Role.name.in_(roles))))
        assert len(user.roles) == len(set(roles)), f"unknown role in {roles}"
    if department_code is not None:
        user.department = db.session.scalar(sa.select(Department).where(Department.code == department_code))
    db.session.add(user)
    db.session.commit()
    return user


def make_school(title: str | None = None) -> School:
    """A campus."""
    school = School(title=title or unique("校区"))
    db.session.add(school)
    db.session.commit()
    return school


def make_course(name: str | None = None) -> Course:
    """A course."""
    course = Course(name=name or unique("课程"))
    db.session.add(course)
    db.session.commit()
    return course


def make_class(school: School | None = None, course: Course | None = None, semester: int = 1,
               price: int = 19800, start_date: dt.date | None = None, tutor: User | None = None,
               teachers: list[User] | None = None, memo: str | None = None) -> ClassList:
    """A class of a course at a school."""
    klass = ClassList(
        school=school or make_school(), course=course or make_course(), semester=semester, price=price,
        start_date=start_date or dt.date(2026, 9, 1), tutor=tutor, memo=memo,
    )
    klass.teachers = teachers or []
    db.session.add(klass)
    db.session.commit()
    return klass


def login(client, user: User | str, password: str = PASSWORD):
    """Sign in through the real login form; returns the response."""
    username = user if isinstance(user, str) else user.username
    return client.post("/auth/login", data={"username": username, "password": password})


def logout(client):
    """Sign out."""
    return client.post("/auth/logout")


def make_student(klass: ClassList | None = None, *, joined_on: dt.date = dt.date(2026, 9, 1),
                 left_on: dt.date | None = None, name: str | None = None, email: str | None = None):
    """A student (lead + student account + Student row), enrolled in `klass` from `joined_on` when given."""
    from crm.sales import choices
    from crm.sales.models import Customer
    from crm.students.models import Enrollment, Student

    number = next(_seq)
    name = name or f"学生{number}"
    user = make_user("student", username=f"stu{number}", name=name, kind=User.KIND_STUDENT, email=email)
    lead = Customer(qq=str(800000000 + number), name=name, gender=1, source=1, status=choices.ENROLLED,
                    inquiry_date=joined_on)
    db.session.add(lead)
    db.session.flush()
    student = Student(customer_id=lead.id, user_id=user.id)
    db.session.add(student)
    db.session.flush()
    if klass is not None:
        db.session.add(Enrollment(student_id=student.id, class_id=klass.id, joined_on=joined_on, left_on=left_on))
    db.session.commit()
    return student
