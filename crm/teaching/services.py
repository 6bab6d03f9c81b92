"""Course sessions, batch initialise, attendance and score entry (T-1 … T-6, T-9).

Invariants, held by the database rather than by checks in Python:

* one session number per class (unique constraint; a repeated or concurrent
  create gets a field message, never a second row);
* one study record per (session, student) (unique constraint); initialise is one
  ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per batch, so running it twice,
  or twice at once, adds nothing the first run added;
* attendance changes are one set-based ``UPDATE`` that applies T-6 in SQL;
* score entry changes only ``grade``/``score``/``homework_note`` of records of
  the one session named in the URL, all or nothing.

Services take ids, values and the acting user, flush, never commit.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.core import uow
from crm.core.errors import Conflict, Forbidden, Invalid, NotFound
from crm.core.ids import is_id
from crm.extensions import conflict_insert, db
from crm.org.models import ClassList
from crm.students.models import Enrollment, Student
from crm.students.services import enrolled_on_clause
from crm.teaching import grades, rules
from crm.teaching.models import CourseRecord, StudyRecord

TITLE_MAX, TEXT_MAX, NOTE_MAX = 128, 5000, 255
MAX_SESSION_NO = 10_000
INITIALISE_BATCH = 500  # sessions per INSERT … SELECT


class FieldErrors(Invalid):
    """Several fields are invalid at once; `errors` maps field name → message (crm.core.forms)."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


def clean_text(value: object, limit: int) -> str:
    """Text as typed, without NUL bytes or surrounding blanks, at most `limit` characters."""
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()[:limit + 1]


# -- sessions (T-1) -------------------------------------------------------------------------
def session_for(user: User, session_id: int) -> CourseRecord:
    """The session, when the user may see its class (404 missing, 403 not theirs)."""
    session = db.session.get(CourseRecord, session_id) if is_id(session_id) else None
    if session is None:
        raise NotFound(_("The page or record you asked for does not exist."))
    if not rules.may_see_class(user, session.class_id):
        raise Forbidden(_("This is not one of your classes."))
    return session


def sessions_of(class_id: int) -> list[tuple[CourseRecord, int, int, int]]:
    """The class's sessions with record, absence and homework-submission counts (one query)."""
    counts = (
        sa.select(
            StudyRecord.course_record_id.label("cid"),
            sa.func.count().label("records"),
            sa.func.sum(sa.case((StudyRecord.attendance == grades.NOSHOW, 1), else_=0)).label("absent"),
            sa.func.count(StudyRecord.submitted_at).label("submitted"),
        ).group_by(StudyRecord.course_record_id).subquery()
    )
    rows = db.session.execute(
        sa.select(CourseRecord, counts.c.records, counts.c.absent, counts.c.submitted)
        .outerjoin(counts, counts.c.cid == CourseRecord.id)
        .where(CourseRecord.class_id == class_id)
        .options(joinedload(CourseRecord.teacher))
        .order_by(CourseRecord.session_no)
    )
    return [(s, records or 0, absent or 0, submitted or 0) for s, records, absent, submitted in rows]


def next_session_no(class_id: int) -> int:
    """One more than the highest session number of the class."""
    highest = db.session.scalar(sa.select(sa.func.max(CourseRecord.session_no)).where(
        CourseRecord.class_id == class_id))
    return (highest or 0) + 1


def _parse_session(values: Mapping[str, object], klass: ClassList) -> dict:
    errors: dict[str, str] = {}
    data: dict[str, object] = {}
    raw_no = clean_text(values.get("session_no"), 12)
    try:
        number = int(raw_no)
        if not 1 <= number <= MAX_SESSION_NO:
            raise ValueError
        data["session_no"] = number
    except ValueError:
        errors["session_no"] = _("Enter a session number from 1 to %(n)s.", n=MAX_SESSION_NO)
    raw_date = values.get("held_on")
    if isinstance(raw_date, dt.date):
        data["held_on"] = raw_date
    else:
        try:
            data["held_on"] = dt.date.fromisoformat(clean_text(raw_date, 10))
        except ValueError:
            errors["held_on"] = _("Enter a date as YYYY-MM-DD.")
    title = clean_text(values.get("title"), TITLE_MAX)
    if not title:
        errors["title"] = _("Enter a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = _("At most %(n)s characters.", n=TITLE_MAX)
    data["title"] = title
    for name in ("summary", "homework_description", "grading_points"):
        text = clean_text(values.get(name), TEXT_MAX)
        if len(text) > TEXT_MAX:
            errors[name] = _("At most %(n)s characters.", n=TEXT_MAX)
        data[name] = text or None
    data["has_homework"] = bool(values.get("has_homework"))
    homework_title = clean_text(values.get("homework_title"), TITLE_MAX)
    if len(homework_title) > TITLE_MAX:
        errors["homework_title"] = _("At most %(n)s characters.", n=TITLE_MAX)
    elif data["has_homework"] and not homework_title:
        errors["homework_title"] = _("A session with homework needs a homework title.")
    data["homework_title"] = homework_title or None
    teacher_raw = clean_text(values.get("teacher_id"), 12)
    teacher_ids = {t.id for t in klass.teachers}
    if teacher_raw:
        try:
            teacher_id = int(teacher_raw)
        except ValueError:
            teacher_id = -1
        if teacher_id not in teacher_ids:
            errors["teacher_id"] = _("Choose one of the class's teachers.")
        data["teacher_id"] = teacher_id
    else:
        data["teacher_id"] = None
    if errors:
        raise FieldErrors(errors)
    return data


def save_session(actor: User, class_id: int, values: Mapping[str, object], *,
                 session_id: int | None = None) -> CourseRecord:
    """Create (or edit) a session of a class the actor teaches (T-1); a taken number is a field error."""
    klass = rules.class_for(actor, class_id)
    data = _parse_session(values, klass)
    if session_id is None:
        session = CourseRecord(class_id=klass.id)
    else:
        session = session_for(actor, session_id)
        if session.class_id != klass.id:
            raise NotFound(_("The page or record you asked for does not exist."))
    if data["teacher_id"] is None and actor.id in {t.id for t in klass.teachers}:
        data["teacher_id"] = actor.id
    try:
        with uow.savepoint():
            for key, value in data.items():
                setattr(session, key, value)
            db.session.add(session)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(_("Session %(n)s already exists in this class.", n=data["session_no"]),
                       field="session_no") from None
    return session


def roster(class_id: int) -> list[Enrollment]:
    """Everyone ever enrolled in the class, with join and leave dates (one query)."""
    return list(db.session.scalars(
        sa.select(Enrollment).where(Enrollment.class_id == class_id)
        .options(joinedload(Enrollment.student).joinedload(Student.user),
                 joinedload(Enrollment.student).joinedload(Student.customer))
        .order_by(Enrollment.joined_on, Enrollment.id)
    ).unique())


def parse_ids(raw: Iterable[object] | None, *, field: str = "record_ids") -> list[int] | None:
    """Ids from form values; anything that cannot be a row id refuses the whole action."""
    if raw is None:
        return None
    ids = []
    for value in raw:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise Invalid(_("Unknown record."), field=field) from None
        if not is_id(number):
            raise Invalid(_("Unknown record."), field=field)
        ids.append(number)
    return sorted(set(ids))


# -- batch initialise (T-3) -----------------------------------------------------------------
def initialise_statement(session_ids: Iterable[int], now: dt.datetime):
    """INSERT … SELECT of the missing records of these sessions (T-3), conflicts ignored."""
    source = (
        sa.select(
            CourseRecord.id, Enrollment.student_id, sa.literal(grades.CHECKED),
            sa.literal(now, sa.DateTime(timezone=True)),
        )
        .join(Enrollment, enrolled_on_clause(CourseRecord.class_id, CourseRecord.held_on))
        .where(CourseRecord.id.in_(list(session_ids)))
        .distinct()
    )
    return (
        conflict_insert(StudyRecord.__table__)
        .from_select(["course_record_id", "student_id", "attendance", "created_at"], source)
        .on_conflict_do_nothing(index_elements=["course_record_id", "student_id"])
    )


def initialise_records(actor: User, session_ids: Iterable[object], *, now: dt.datetime,
                       class_id: int | None = None) -> int:
    """Create the missing study records of the selected sessions (T-3); returns how many were added.

    Only students enrolled on each session's date get one (joined on or before it,
    not yet left). Safe to repeat and to run concurrently: the unique constraint
    settles who inserts a row, and the losers' rows are silently skipped. With
    `class_id`, every session must belong to that class (a page's bulk action).
    """
    ids = parse_ids(session_ids, field="session_ids")
    if not ids:
        raise Invalid(_("Select at least one session."), field="session_ids")
    found = db.session.execute(
        sa.select(CourseRecord.id, CourseRecord.class_id).where(CourseRecord.id.in_(ids))
    ).all()
    if len(found) != len(ids):
        raise NotFound(_("The page or record you asked for does not exist."))
    if class_id is not None and any(cid != class_id for _id, cid in found):
        raise Invalid(_("Only sessions of this class can be initialised here."), field="session_ids")
    allowed = rules.visible_class_ids(actor, [cid for _id, cid in found])
    if any(cid not in allowed for _id, cid in found):
        raise Forbidden(_("This is not one of your classes."))
    db.session.flush()
    added = 0
    for start in range(0, len(ids), INITIALISE_BATCH):
        result = db.session.execute(initialise_statement(ids[start:start + INITIALISE_BATCH], now),
                                    execution_options={"preserve_rowcount": True})
        added += max(result.rowcount or 0, 0)
    return added
