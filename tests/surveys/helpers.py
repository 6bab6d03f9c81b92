"""Survey test data: a tutored class with students and surveys made through the services."""
from __future__ import annotations

import datetime as dt

from crm.core.clock import utcnow
from crm.extensions import db
from crm.surveys import answering, services
from crm.surveys.services import OptionData, QuestionData, SurveyData
from tests.factories import make_class, make_student, make_user


def now() -> dt.datetime:
    """The current instant, to the minute (views use the real clock)."""
    return utcnow().replace(second=0, microsecond=0)


def three_questions() -> list[QuestionData]:
    """A score, a single-choice and a text question."""
    return [
        QuestionData(None, "score", "讲师授课打分"),
        QuestionData(None, "choice", "进度如何？", [OptionData(None, "太快", 1), OptionData(None, "合适", 3),
                                                  OptionData(None, "太慢", 2)]),
        QuestionData(None, "text", "建议"),
    ]


def make_tutored_class(students: int = 3):
    """(tutor, class, [students]) with the students enrolled from 2026-09-01."""
    tutor = make_user("tutor")
    klass = make_class(tutor=tutor, start_date=dt.date(2026, 9, 1))
    return tutor, klass, [make_student(klass) for _ in range(students)]


def make_survey(tutor, klass, *, questions=None, anonymous: bool = False, publish: bool = True,
                opens: dt.timedelta = dt.timedelta(days=-1), closes: dt.timedelta = dt.timedelta(days=5),
                at: dt.datetime | None = None):
    """A survey made (and shared) by `tutor` through the services, committed."""
    at = at or now()
    data = SurveyData(title="教学满意度调查", opens_at=at + opens, closes_at=at + closes, anonymous=anonymous,
                      questions=questions if questions is not None else three_questions())
    survey = services.create_survey(tutor, klass.id, data, now=at + opens)
    if publish:
        services.publish_survey(tutor, survey.id, now=at + opens)
    db.session.commit()
    return survey


GOOD_TEXT = "这门课程非常好，老师讲解得很清楚明白。"


def good_answers(survey, *, score: int = 8, option_index: int = 1, text: str = GOOD_TEXT):
    """A complete, valid answer set {question id: raw value}."""
    answers = {}
    for question in answering.questions_of(survey.id):
        if question.kind == "score":
            answers[question.id] = str(score)
        elif question.kind == "choice":
            answers[question.id] = str(question.options[option_index].id)
        else:
            answers[question.id] = text
    return answers


def answer(student, survey, at: dt.datetime | None = None, **kwargs) -> str:
    """Submit and commit a valid answer set as `student`."""
    key = answering.submit_answers(student.user_id, survey.id, good_answers(survey, **kwargs), now=at or now())
    db.session.commit()
    return key


def said(message: str, **values) -> str:
    """A regex matching a service message as the (Chinese by default) interface says it."""
    import re

    from flask_babel import gettext

    return re.escape(gettext(message, **values))
