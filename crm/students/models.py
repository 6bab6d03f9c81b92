"""Students and their class enrolments (S-18, S-19, T-3): shared by sales, teaching and surveys."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db
from crm.org.models import ClassList


class Student(db.Model):
    """A paying lead (学生), one per lead, with a login account (S-18, S-19)."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    emergency_contact: Mapped[str | None] = mapped_column(sa.String(64))
    company: Mapped[str | None] = mapped_column(sa.String(128))
    location: Mapped[str | None] = mapped_column(sa.String(64))
    position: Mapped[str | None] = mapped_column(sa.String(64))
    salary: Mapped[int | None]
    welfare: Mapped[str | None] = mapped_column(sa.String(255))
    placement_date: Mapped[dt.date | None]
    memo: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class Enrollment(db.Model):
    """A student's membership of a class from `joined_on` until `left_on` (S-18, T-3)."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="RESTRICT"), index=True)
    joined_on: Mapped[dt.date]
    left_on: Mapped[dt.date | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(16))  # transfer, drop_out, graduated

    student: Mapped[Student] = relationship()
    class_list: Mapped[ClassList] = relationship()

    __table_args__ = (
        sa.CheckConstraint("left_on IS NULL OR left_on >= joined_on", name="dates_ordered"),
        # One current enrolment per (student, class).
        sa.Index(
            "uq_enrollments_current", "student_id", "class_id", unique=True,
            postgresql_where=sa.text("left_on IS NULL"), sqlite_where=sa.text("left_on IS NULL"),
        ),
    )
