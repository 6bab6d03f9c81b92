"""The student portal (T-8): classes, grades by session, attendance, records, homework.

Everything a portal page shows is loaded in a fixed number of queries
whatever the number of classes and sessions. Charts get numbers only for
numeric grades; N/A, COPY and FAIL travel as labels (never as 0).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import contains_eager, joinedload

from crm.auth.models import User
from crm.core.errors import Forbidden, NotFound
from crm.core.ids import is_id
from crm.extensions import db
from crm.org.models import ClassList
from crm.students.models import Enrollment, Student
from crm.teaching import grades, rules
from crm.teaching.models import CourseRecord, StudyRecord


@dataclass
class ClassProgress:
    """One class on the portal: its records, chart data, attendance breakdown and average."""

    klass: ClassList
    joined_on: object = None
    left_on: object = None
    records: list[StudyRecord] = field(default_factory=list)

    @property
    def chart(self) -> dict:
        """Chart.js data: labels per session, numeric scores (None for gaps), label grades apart."""
        points = []
        for record in self.records:
            session = record.course_record
            points.append({
                "label": f"#{session.session_no}",
                "score": record.score if record.grade in grades.NUMERIC_GRADES else None,
                "grade": record.grade or "",
            })
        return {"points": points, "title": self.klass.display_name}

    @property
    def attendance(self) -> list[tuple[str, str, int]]:
        """(code, label, count) for every attendance status, in a fixed order."""
        counts = Counter(record.attendance for record in self.records)
        return [(code, str(label), counts.get(code, 0)) for code, label in grades.ATTENDANCE.items()]

    @property
    def average(self) -> float | None:
        """Average of numeric grades only (None when there is none)."""
        scores = [r.score for r in self.records if r.grade in grades.NUMERIC_GRADES and r.score is not None]
        return round(sum(scores) / len(scores), 1) if scores else None


def student_or_404(student_id: int) -> Student:
    """The student with their account, or NotFound."""
    student = db.session.scalar(
        sa.select(Student).where(Student.id == student_id).options(joinedload(Student.user))
    ) if is_id(student_id) else None
    if student is None:
        raise NotFound(_("The page or record you asked for does not exist."))
    return student


def ensure_may_view(viewer: User, student: Student) -> None:
    """The student themselves, or a teacher/tutor of one of their classes, or a director (T-8, T-9)."""
    if viewer.id == student.user_id:
        return
    if viewer.kind == User.KIND_STUDENT or not viewer.has_any_permission(("teaching.student.view",)):
        raise Forbidden(_("You may not see this student's records."))
    if not rules.staff_may_see_student(viewer, student.id):
        raise Forbidden(_("You may not see this student's records."))


def progress(viewer: User, student: Student) -> list[ClassProgress]:
    """The student's classes with their records, as the viewer may see them (3 queries)."""
    enrolments = list(db.session.scalars(
        sa.select(Enrollment).where(Enrollment.student_id == student.id)
        .options(joinedload(Enrollment.class_list)).order_by(Enrollment.joined_on, Enrollment.id)
    ))
    records = list(db.session.scalars(
        sa.select(StudyRecord)
        .join(CourseRecord, CourseRecord.id == StudyRecord.course_record_id)
        .where(StudyRecord.student_id == student.id)
        .options(contains_eager(StudyRecord.course_record))
        .order_by(CourseRecord.class_id, CourseRecord.session_no)
    ))
    by_class: dict[int, ClassProgress] = {}
    for enrolment in enrolments:
        entry = by_class.setdefault(enrolment.class_id, ClassProgress(enrolment.class_list))
        entry.joined_on, entry.left_on = entry.joined_on or enrolment.joined_on, enrolment.left_on
    missing = {r.course_record.class_id for r in records} - set(by_class)
    if missing:  # records of a class with no enrolment row left: still the student's history
        for klass in db.session.scalars(sa.select(ClassList).where(ClassList.id.in_(missing))):
            by_class[klass.id] = ClassProgress(klass)
    for record in records:
        by_class[record.course_record.class_id].records.append(record)
    if viewer.id != student.user_id:
        allowed = rules.visible_class_ids(viewer, list(by_class))
        by_class = {cid: entry for cid, entry in by_class.items() if cid in allowed}
    return list(by_class.values())
