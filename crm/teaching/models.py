"""Course sessions and study records (T-1, T-2)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db
from crm.org.models import ClassList
from crm.students.models import Student
from crm.teaching import grades

_attendance_values = ", ".join(f"'{code}'" for code in grades.ATTENDANCE)
_grade_values = ", ".join(f"'{code}'" for code in grades.GRADES)


class CourseRecord(db.Model):
    """One teaching session of a class (上课记录), numbered within the class (T-1)."""

    __tablename__ = "course_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="CASCADE"))
    session_no: Mapped[int]
    teacher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    held_on: Mapped[dt.date]
    title: Mapped[str] = mapped_column(sa.String(128))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    has_homework: Mapped[bool] = mapped_column(default=False)
    homework_title: Mapped[str | None] = mapped_column(sa.String(128))
    homework_description: Mapped[str | None] = mapped_column(sa.Text)
    grading_points: Mapped[str | None] = mapped_column(sa.Text)  # 踩分点
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    class_list: Mapped[ClassList] = relationship()
    teacher: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("class_id", "session_no"),
        sa.CheckConstraint("session_no >= 1", name="session_no_positive"),
    )

    def __str__(self) -> str:
        return f"#{self.session_no} {self.title}"


class StudyRecord(db.Model):
    """A student's attendance, grade and homework for one session; one per (session, student) (T-2)."""

    __tablename__ = "study_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_record_id: Mapped[int] = mapped_column(sa.ForeignKey("course_records.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id", ondelete="CASCADE"), index=True)
    attendance: Mapped[str] = mapped_column(sa.String(16), default=grades.CHECKED)
    grade: Mapped[str | None] = mapped_column(sa.String(8))
    score: Mapped[int | None]
    graded_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    homework_note: Mapped[str | None] = mapped_column(sa.String(255))
    note: Mapped[str | None] = mapped_column(sa.String(255))
    homework_file: Mapped[str | None] = mapped_column(sa.String(64))  # generated storage name
    homework_filename: Mapped[str | None] = mapped_column(sa.String(255))  # the student's name for it
    homework_size: Mapped[int | None]
    student_memo: Mapped[str | None] = mapped_column(sa.String(500))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    course_record: Mapped[CourseRecord] = relationship()
    student: Mapped[Student] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("course_record_id", "student_id"),
        sa.CheckConstraint(f"attendance IN ({_attendance_values})", name="attendance_known"),
        sa.CheckConstraint(f"grade IS NULL OR grade IN ({_grade_values})", name="grade_known"),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
    )
