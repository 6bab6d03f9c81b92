"""Schools (campuses), courses and classes (P-4)."""
from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.extensions import db

class_teachers = sa.Table(
    "class_teachers",
    db.metadata,
    sa.Column("class_id", sa.ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class School(db.Model):
    """A campus."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(64), unique=True)

    def __str__(self) -> str:
        return self.title


class Course(db.Model):
    """A course the school teaches, e.g. 'Python 全栈开发'."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)

    def __str__(self) -> str:
        return self.name


def class_name(course_name: str | None, semester: int) -> str:
    """A class's name in the UI language: 'course (N期)' in Chinese, 'course (cohort N)' in English.

    Only the course and the number are stored; the name is put together where it is shown,
    so pages, exports and e-mails (rendered in the recipient's language) each get their own.
    """
    return gettext("%(course)s (cohort %(n)s)", course=course_name or "", n=semester).strip()


class ClassList(db.Model):
    """A class: one semester of a course at a school, shown as 'course (N期)' / 'course (cohort N)'."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id", ondelete="RESTRICT"), index=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="RESTRICT"), index=True)
    semester: Mapped[int]
    price: Mapped[int]  # whole yuan
    start_date: Mapped[dt.date]
    graduate_date: Mapped[dt.date | None]
    memo: Mapped[str | None] = mapped_column(sa.String(255))
    tutor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)

    school: Mapped[School] = relationship(lazy="joined")
    course: Mapped[Course] = relationship(lazy="joined")
    tutor: Mapped[User | None] = relationship(foreign_keys=[tutor_id])
    teachers: Mapped[list[User]] = relationship(secondary=class_teachers, order_by="User.name")

    __table_args__ = (
        sa.UniqueConstraint("school_id", "course_id", "semester"),
        sa.CheckConstraint("semester >= 1", name="semester_positive"),
        sa.CheckConstraint("price >= 0", name="price_not_negative"),
        sa.CheckConstraint("graduate_date IS NULL OR graduate_date >= start_date", name="dates_ordered"),
    )

    @property
    def display_name(self) -> str:
        """'course (N期)' as the school writes it, 'course (cohort N)' in the English UI."""
        return class_name(self.course.name if self.course else None, self.semester)

    def __str__(self) -> str:
        return self.display_name


def course_options() -> list:
    """(id, name) rows of every course by name, for select boxes and filters (statement built once)."""
    return db.session.execute(_course_options_statement()).all()


@functools.cache
def _course_options_statement() -> sa.Select:
    return sa.select(Course.id, Course.name).order_by(Course.name, Course.id)
