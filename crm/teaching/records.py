"""Attendance, the absence warning, score entry and grade sheets (T-4, T-5, T-6, T-9).

Attendance changes are one set-based UPDATE per status that applies T-6 in SQL
(crm.teaching.grades holds the rule and its Python twin). Score entry changes
only ``grade``/``score``/``homework_note`` of records of the one session named,
all or nothing. Services flush, never commit.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.core import audit
from crm.core.errors import Forbidden, Invalid
from crm.core.ids import is_id
from crm.extensions import db
from crm.org.models import ClassList
from crm.students.models import Student
from crm.teaching import grades
from crm.teaching.models import CourseRecord, StudyRecord
from crm.teaching.services import NOTE_MAX, FieldErrors, clean_text, parse_ids, session_for


# -- attendance (T-4, T-6) ------------------------------------------------------------------
def records_of_session(session_id: int) -> list[StudyRecord]:
    """The session's records with students and their names, by name (one query)."""
    return list(db.session.scalars(
        sa.select(StudyRecord).where(StudyRecord.course_record_id == session_id)
        .join(Student, Student.id == StudyRecord.student_id)
        .join(User, User.id == Student.user_id)
        .options(joinedload(StudyRecord.student).joinedload(Student.user))
        .order_by(User.name, StudyRecord.id)
    ).unique())


def set_attendance(actor: User, session_id: int, status: str, record_ids: Iterable[object] | None = None,
                   *, today: dt.date) -> int:
    """Set one status for the selected records of a session, or the whole session (None) (T-4).

    One UPDATE, which also re-applies T-6 to the grades; records of other
    sessions named in `record_ids` refuse the whole change. Returns rows changed.
    """
    session = session_for(actor, session_id)
    if status not in grades.ATTENDANCE:
        raise Invalid(_("Choose an attendance status."), field="status")
    ids = parse_ids(record_ids)
    where = [StudyRecord.course_record_id == session.id]
    if ids is not None:
        if not ids:
            raise Invalid(_("Select at least one student."), field="record_ids")
        owned = db.session.scalar(sa.select(sa.func.count()).select_from(StudyRecord).where(
            StudyRecord.id.in_(ids), StudyRecord.course_record_id == session.id))
        if owned != len(ids):
            raise Forbidden(_("Only records of this session can change here."))
        where.append(StudyRecord.id.in_(ids))
    new_grade = grades.grade_after_attendance_sql(StudyRecord.attendance, StudyRecord.grade, status)
    result = db.session.execute(
        sa.update(StudyRecord).where(*where)
        .values(attendance=status, grade=new_grade, score=grades.score_sql(new_grade))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if status == grades.NOSHOW:
        warn_about_absences(session.class_id, today=today)
    return result.rowcount or 0


def set_attendance_grid(actor: User, session_id: int, statuses: Mapping[object, object], *,
                        today: dt.date) -> int:
    """Per-row statuses from the edit grid: one UPDATE per status used; all or nothing."""
    by_status: dict[str, list[object]] = {}
    for record_id, status in statuses.items():
        if status not in grades.ATTENDANCE:
            raise Invalid(_("Choose an attendance status."), field="status")
        by_status.setdefault(str(status), []).append(record_id)
    if not by_status:
        raise Invalid(_("Select at least one student."), field="record_ids")
    changed = 0
    # Set non-absences first so the absence check sees the final statuses.
    for status in sorted(by_status, key=lambda s: s == grades.NOSHOW):
        changed += set_attendance(actor, session_id, status, by_status[status], today=today)
    return changed


def warn_about_absences(class_id: int, *, today: dt.date) -> int:
    """Absence warning: a student with N no-shows in a class → one e-mail to the class tutor (after commit).

    The notification's dedupe key (class, student) makes it one e-mail ever per
    student and class, however often attendance is saved or by how many teachers.
    """
    from crm.notifications.services import queue_email

    threshold = current_app.config["CRM_ABSENCE_WARNING_AFTER"]
    if threshold <= 0:
        return 0
    klass = db.session.get(ClassList, class_id)
    tutor = klass.tutor if klass is not None else None
    if tutor is None or not tutor.email or not tutor.active:
        return 0
    rows = db.session.execute(
        sa.select(Student.id, User.name, sa.func.count(StudyRecord.id))
        .join(StudyRecord, StudyRecord.student_id == Student.id)
        .join(CourseRecord, CourseRecord.id == StudyRecord.course_record_id)
        .join(User, User.id == Student.user_id)
        .where(CourseRecord.class_id == class_id, StudyRecord.attendance == grades.NOSHOW)
        .group_by(Student.id, User.name)
        .having(sa.func.count(StudyRecord.id) >= threshold)
    ).all()
    queued = 0
    for student_id, name, count in rows:
        notification = queue_email(
            kind="teaching_absence_warning", recipient_id=tutor.id, to_address=tutor.email,
            # The class itself, not its name: the name is put together in the tutor's language.
            subject=_l("Absence warning: %(name)s, %(klass)s", name=name, klass=klass),
            template="teaching_absence_warning",
            context={"tutor": tutor.name, "student": name, "klass": klass, "count": count,
                     "threshold": threshold, "today": today},
            dedupe_key=f"teaching-absence:{class_id}:{student_id}", locale=tutor.locale,
        )
        queued += notification is not None
    return queued


# -- score entry (T-5) ----------------------------------------------------------------------
@dataclass
class ScoreEntry:
    """What score entry may change on one record, nothing else; None = not sent, keep as is."""

    grade: str | None = None
    homework_note: str | None = None


def enter_scores(actor: User, session_id: int, entries: Mapping[int, ScoreEntry], *,
                 now: dt.datetime) -> int:
    """Save grades and homework notes of one session's records in one go (T-5).

    Every record named must belong to this session (else nothing is saved and the
    actor is refused); grades must be known codes that the attendance allows (T-6).
    Returns how many grades changed (audited).
    """
    session = session_for(actor, session_id)
    ids = sorted(entries)
    if not ids:
        return 0
    if not all(isinstance(i, int) and is_id(i) for i in ids):
        raise Forbidden(_("Only records of this session can change here."))
    records = {r.id: r for r in db.session.scalars(
        sa.select(StudyRecord).where(StudyRecord.id.in_(ids), StudyRecord.course_record_id == session.id)
        .with_for_update()
    )}
    if len(records) != len(ids):
        raise Forbidden(_("Only records of this session can change here."))
    errors: dict[str, str] = {}
    wanted: dict[int, tuple[str | None, str | None]] = {}
    for record_id in ids:
        entry, record = entries[record_id], records[record_id]
        grade = record.grade if entry.grade is None else (clean_text(entry.grade, 8) or None)
        note = record.homework_note if entry.homework_note is None else (
            clean_text(entry.homework_note, NOTE_MAX) or None)
        if grade is not None and grade not in grades.GRADES:
            errors[f"grade-{record_id}"] = _("Choose a grade from the list.")
        else:
            allowed = grades.ALLOWED_FOR_STATUS.get(record.attendance)
            if grade is not None and allowed is not None and grade not in allowed and grade != record.grade:
                errors[f"grade-{record_id}"] = _("With this attendance the grade can only be %(g)s.",
                                                 g=", ".join(allowed))
        if note is not None and len(note) > NOTE_MAX:
            errors[f"note-{record_id}"] = _("At most %(n)s characters.", n=NOTE_MAX)
        wanted[record_id] = (grade, note)
    if errors:
        raise FieldErrors(errors)
    changed = []
    for record_id, (grade, note) in wanted.items():
        record = records[record_id]
        if grade != record.grade:
            changed.append({"record": record_id, "from": record.grade, "to": grade})
            record.grade, record.score = grade, grades.score_of(grade)
            record.graded_at = now if grade is not None else None
        if note != record.homework_note:
            record.homework_note = note
    db.session.flush()
    if changed:
        audit.record(actor.id, "teaching.score", "course_record", session.id, changes=changed)
    return len(changed)


# -- exports --------------------------------------------------------------------------------
def sheet_rows(class_id: int, column: str):
    """Rows of a class's attendance or grade sheet: student × session (streamed, one query)."""
    sessions = list(db.session.execute(
        sa.select(CourseRecord.id, CourseRecord.session_no, CourseRecord.held_on)
        .where(CourseRecord.class_id == class_id).order_by(CourseRecord.session_no)
    ))
    position = {sid: i for i, (sid, _no, _on) in enumerate(sessions)}
    value = StudyRecord.attendance if column == "attendance" else StudyRecord.grade
    stmt = (
        sa.select(Student.id, User.name, StudyRecord.course_record_id, value)
        .join(StudyRecord, StudyRecord.student_id == Student.id)
        .join(CourseRecord, CourseRecord.id == StudyRecord.course_record_id)
        .join(User, User.id == Student.user_id)
        .where(CourseRecord.class_id == class_id)
        .order_by(User.name, Student.id)
    )
    headers = [_("Student")] + [f"#{no} {on.isoformat()}" for _sid, no, on in sessions]

    def rows():
        current, row = None, None
        for student_id, name, session_id, cell in db.session.execute(stmt.execution_options(yield_per=1000)):
            if student_id != current:
                if row is not None:
                    yield row
                current, row = student_id, [name] + [""] * len(sessions)
            if column == "attendance":
                cell = str(grades.ATTENDANCE.get(cell, cell))
            row[1 + position[session_id]] = cell or ""
        if row is not None:
            yield row

    return headers, rows()
