"""Answering a survey (Q-3): the class's students, while it is open, once each, every question.

One transaction writes everything, in this order:

1. a conditional ``UPDATE surveys SET answer_count = answer_count + 1 WHERE … still open``:
   it refuses a survey that closed meanwhile and takes the survey's row lock, so the
   questions read next cannot be changed by an editor until we commit (Q-2);
2. the questions are read and every answer checked (all required; scores 1–10; the
   option must be one of the question's; texts at least 15 characters, counted as
   characters so Chinese text counts right);
3. ``INSERT … ON CONFLICT DO NOTHING`` of the participation (unique (survey, student)):
   a double submit, even a concurrent one, finds the row and is refused with a message;
4. the response (random key; the student id only when the survey is not anonymous) and
   its answers.

Any refusal raises before the commit, so nothing of it is stored.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, selectinload

from crm.core.clock import to_local
from crm.core.errors import Conflict, Forbidden, Invalid, NotFound
from crm.core.ids import is_id
from crm.extensions import conflict_insert, db
from crm.students.models import Enrollment, Student
from crm.students.services import enrolled_on_clause, student_for_user
from crm.surveys.models import (
    KIND_CHOICE,
    KIND_SCORE,
    SCORE_MAX,
    SCORE_MIN,
    Answer,
    Participation,
    Question,
    Response,
    Survey,
    as_utc,
)

TEXT_MIN = 15
TEXT_MAX = 2000


class AnswerErrors(Invalid):
    """Some answers are missing or wrong: `errors` maps a question id to its message."""

    def __init__(self, errors: dict[int, str]):
        super().__init__(_("Please answer every question as asked."))
        self.errors = errors


def _local_date(now: dt.datetime) -> dt.date:
    return to_local(now).date()


def open_surveys_for(user_id: int, now: dt.datetime) -> list[tuple[Survey, bool]]:
    """Published surveys of the student's classes that are open now, with whether they answered (2 queries)."""
    student = student_for_user(user_id)
    if student is None:
        return []
    answered = (
        sa.select(Participation.id)
        .where(Participation.survey_id == Survey.id, Participation.student_id == student.id)
        .exists()
    )
    rows = db.session.execute(
        sa.select(Survey, answered)
        .join(Enrollment, sa.and_(Enrollment.student_id == student.id,
                                  enrolled_on_clause(Survey.class_id, _local_date(now))))
        .where(Survey.published_at.is_not(None), Survey.opens_at <= now, Survey.closes_at > now)
        .options(joinedload(Survey.class_list))
        .order_by(Survey.closes_at, Survey.id)
    ).unique()
    return [(survey, bool(done)) for survey, done in rows]


def survey_for_student(user_id: int, survey_id: int, now: dt.datetime) -> tuple[Survey, Student]:
    """The survey if this student may answer it now (NotFound / Forbidden / Conflict otherwise)."""
    student = student_for_user(user_id)
    if student is None:
        raise Forbidden(_("Only students answer surveys."))
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.is_draft:
        raise NotFound(_("This survey does not exist."))
    member = db.session.scalar(
        sa.select(Enrollment.id).where(Enrollment.student_id == student.id,
                                       enrolled_on_clause(survey.class_id, _local_date(now))).limit(1)
    )
    if member is None:
        raise Forbidden(_("This survey is for the students of another class."))
    if not survey.is_open(now):
        if survey.published_at is not None and now < as_utc(survey.opens_at):
            raise Conflict(_("This survey is not open yet."))
        raise Conflict(_("This survey is closed."))
    return survey, student


def has_answered(survey_id: int, student_id: int) -> bool:
    """Did this student already take part?"""
    return db.session.scalar(
        sa.select(Participation.id).where(Participation.survey_id == survey_id,
                                          Participation.student_id == student_id)
    ) is not None


def questions_of(survey_id: int, *, fresh: bool = False) -> list[Question]:
    """The survey's questions with their options, in order."""
    stmt = (sa.select(Question).where(Question.survey_id == survey_id)
            .options(selectinload(Question.options)).order_by(Question.position, Question.id))
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return list(db.session.scalars(stmt))


def _parse(questions: list[Question], raw: Mapping[int, str]) -> tuple[list[dict], dict[int, str]]:
    values: list[dict] = []
    errors: dict[int, str] = {}
    for question in questions:
        given = (raw.get(question.id) or "").replace("\x00", "").strip()
        if not given:
            errors[question.id] = _("Please answer this question.")
            continue
        if question.kind == KIND_SCORE:
            try:
                score = int(given)
            except ValueError:
                score = None
            if score is None or not SCORE_MIN <= score <= SCORE_MAX:
                errors[question.id] = _("Choose a score from 1 to 10.")
                continue
            values.append({"question_id": question.id, "score": score})
        elif question.kind == KIND_CHOICE:
            option_ids = {o.id for o in question.options}
            try:
                option_id = int(given)
            except ValueError:
                option_id = None
            if option_id is None or not is_id(option_id) or option_id not in option_ids:
                errors[question.id] = _("Choose one of the options.")
                continue
            values.append({"question_id": question.id, "option_id": option_id})
        else:
            if len(given) < TEXT_MIN:
                errors[question.id] = _("Write at least %(n)s characters.", n=TEXT_MIN)
                continue
            if len(given) > TEXT_MAX:
                errors[question.id] = _("Write at most %(n)s characters.", n=TEXT_MAX)
                continue
            values.append({"question_id": question.id, "text": given})
    return values, errors


def submit_answers(user_id: int, survey_id: int, raw: Mapping[int, str], *, now: dt.datetime) -> str:
    """Store one student's answers to a survey (Q-3); returns the response key."""
    survey, student = survey_for_student(user_id, survey_id, now)
    if has_answered(survey.id, student.id):  # the friendly early answer; step 3 is the rule
        raise Conflict(_("You have already answered this survey. Thank you!"))
    bumped = db.session.execute(
        sa.update(Survey)
        .where(Survey.id == survey.id, Survey.published_at.is_not(None), Survey.opens_at <= now,
               Survey.closes_at > now)
        .values(answer_count=Survey.answer_count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not bumped:
        raise Conflict(_("This survey is closed."))
    questions = questions_of(survey.id, fresh=True)
    values, errors = _parse(questions, raw)
    if errors:
        raise AnswerErrors(errors)
    participation_id = db.session.scalar(
        conflict_insert(Participation)
        .values(survey_id=survey.id, student_id=student.id, answered_at=now)
        .on_conflict_do_nothing(index_elements=["survey_id", "student_id"])
        .returning(Participation.id)
    )
    if participation_id is None:
        raise Conflict(_("You have already answered this survey. Thank you!"))
    key = secrets.token_hex(16)
    db.session.add(Response(key=key, survey_id=survey.id, student_id=None if survey.anonymous else student.id))
    db.session.flush()
    db.session.execute(sa.insert(Answer), [
        {"response_key": key, "survey_id": survey.id, "score": None, "option_id": None, "text": None, **value}
        for value in values
    ])
    db.session.expire(survey, ["answer_count"])
    return key


def parse_form(form: Mapping[str, str]) -> dict[int, str]:
    """Answers from a posted form: fields named ``q-<question id>``; anything else is ignored."""
    answers: dict[int, str] = {}
    for name, value in form.items():
        if not name.startswith("q-"):
            continue
        try:
            question_id = int(name[2:])
        except ValueError:
            continue
        if is_id(question_id):
            answers[question_id] = value
    return answers


def survey_student_ids(survey_id: int) -> list[int]:
    """Who took part (never what they answered when the survey is anonymous)."""
    return list(db.session.scalars(
        sa.select(Participation.student_id).where(Participation.survey_id == survey_id)
        .order_by(Participation.student_id)))

