"""Survey results (Q-4): participation, per-question statistics and the streamed export.

The page costs a fixed number of queries whatever the number of answers: the
questions (+ options), the class size, one ``GROUP BY (question, score, option)``
that gives every count at once, and one query for the listed texts (at most
`TEXT_LIMIT` per question, by a window function). Means, medians and
percentages are computed from those counts; the median from the 1–10
histogram is exact because scores are whole numbers.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.core.clock import to_local
from crm.extensions import db
from crm.students.models import Enrollment, Student
from crm.students.services import enrolled_on_clause
from crm.surveys.answering import questions_of
from crm.surveys.models import (
    KIND_CHOICE,
    KIND_SCORE,
    SCORE_MAX,
    SCORE_MIN,
    Answer,
    Option,
    Question,
    Response,
    Survey,
    as_utc,
)

TEXT_LIMIT = 200


def median_from_histogram(histogram: list[int]) -> float | None:
    """The median of whole-number scores SCORE_MIN.. given their counts (exact; None when empty)."""
    total = sum(histogram)
    if total == 0:
        return None
    # 1-based ranks of the middle value(s): one when odd, two neighbours when even.
    wanted = [(total + 1) // 2, total // 2 + 1] if total % 2 == 0 else [(total + 1) // 2]
    found: list[int] = []
    seen = 0
    for offset, count in enumerate(histogram):
        seen += count
        while wanted and wanted[0] <= seen:
            wanted.pop(0)
            found.append(SCORE_MIN + offset)
    return sum(found) / len(found)


@dataclass
class ScoreStats:
    """A score question: count, mean, median and the 1–10 histogram."""

    count: int
    mean: float | None
    median: float | None
    histogram: list[int]


@dataclass
class OptionRow:
    """One option's count and share."""

    option: Option
    count: int
    percent: float | None


@dataclass
class ChoiceStats:
    """A single-choice question: counts, percentages and the mean option score."""

    count: int
    rows: list[OptionRow]
    mean_score: float | None


@dataclass
class QuestionResult:
    """What one question got."""

    question: Question
    score: ScoreStats | None = None
    choice: ChoiceStats | None = None
    texts: list[str] = field(default_factory=list)
    text_count: int = 0


@dataclass
class SurveyResults:
    """The results page."""

    survey: Survey
    answered: int
    class_size: int
    questions: list[QuestionResult]

    @property
    def rate(self) -> float | None:
        """answered / class size."""
        return self.answered / self.class_size if self.class_size else None

    def chart_data(self) -> dict:
        """Plain data for the charts (Chart.js reads it from a data attribute)."""
        charts = []
        for result in self.questions:
            if result.score is not None:
                charts.append({"id": result.question.id, "type": "score",
                               "labels": [str(n) for n in range(SCORE_MIN, SCORE_MAX + 1)],
                               "values": result.score.histogram})
            elif result.choice is not None:
                charts.append({"id": result.question.id, "type": "choice",
                               "labels": [row.option.label for row in result.choice.rows],
                               "values": [row.count for row in result.choice.rows]})
        return {"charts": charts, "label": _("Answers")}


def class_size_on(class_id: int, on: dt.date) -> int:
    """How many students are in the class on a date."""
    return db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Enrollment.student_id))).where(enrolled_on_clause(class_id, on))
    ) or 0


def class_sizes(class_ids: set[int], on: dt.date) -> dict[int, int]:
    """Students per class on a date, for several classes in one query (list pages)."""
    if not class_ids:
        return {}
    rows = db.session.execute(
        sa.select(Enrollment.class_id, sa.func.count(sa.distinct(Enrollment.student_id)))
        .where(Enrollment.class_id.in_(class_ids), enrolled_on_clause(Enrollment.class_id, on))
        .group_by(Enrollment.class_id)
    )
    return dict(rows.all())


def reference_date(survey: Survey, now: dt.datetime) -> dt.date:
    """The class size counts on the close date once closed, else today."""
    return to_local(min(now, as_utc(survey.closes_at))).date()


def survey_results(survey: Survey, *, now: dt.datetime) -> SurveyResults:
    """Every figure of the results page (Q-4) in a fixed number of queries."""
    questions = questions_of(survey.id)
    counts = db.session.execute(
        sa.select(Answer.question_id, Answer.score, Answer.option_id, sa.func.count())
        .where(Answer.survey_id == survey.id)
        .group_by(Answer.question_id, Answer.score, Answer.option_id)
    ).all()
    by_question: dict[int, list[tuple]] = defaultdict(list)
    for question_id, score, option_id, count in counts:
        by_question[question_id].append((score, option_id, count))
    texts = _texts(survey.id)
    results = []
    for question in questions:
        rows = by_question.get(question.id, [])
        result = QuestionResult(question)
        if question.kind == KIND_SCORE:
            histogram = [0] * (SCORE_MAX - SCORE_MIN + 1)
            for score, _option, count in rows:
                if score is not None:
                    histogram[score - SCORE_MIN] += count
            total = sum(histogram)
            mean = sum((SCORE_MIN + i) * c for i, c in enumerate(histogram)) / total if total else None
            result.score = ScoreStats(total, mean, median_from_histogram(histogram), histogram)
        elif question.kind == KIND_CHOICE:
            per_option = {option_id: count for _score, option_id, count in rows if option_id is not None}
            total = sum(per_option.values())
            result.choice = ChoiceStats(
                count=total,
                rows=[OptionRow(o, per_option.get(o.id, 0), per_option.get(o.id, 0) / total * 100 if total else None)
                      for o in question.options],
                mean_score=(sum(o.score * per_option.get(o.id, 0) for o in question.options) / total
                            if total else None),
            )
        else:
            result.text_count = sum(count for _score, _option, count in rows)
            result.texts = texts.get(question.id, [])
        results.append(result)
    size = class_size_on(survey.class_id, reference_date(survey, now))
    return SurveyResults(survey=survey, answered=survey.answer_count, class_size=size, questions=results)


def _texts(survey_id: int) -> dict[int, list[str]]:
    """Up to TEXT_LIMIT texts per question, in random-key order (never in the order they arrived)."""
    ranked = (
        sa.select(Answer.question_id, Answer.text,
                  sa.func.row_number().over(partition_by=Answer.question_id,
                                            order_by=Answer.response_key).label("n"))
        .where(Answer.survey_id == survey_id, Answer.text.is_not(None))
        .subquery()
    )
    texts: dict[int, list[str]] = defaultdict(list)
    for question_id, text in db.session.execute(
            sa.select(ranked.c.question_id, ranked.c.text).where(ranked.c.n <= TEXT_LIMIT)
            .order_by(ranked.c.question_id, ranked.c.n)):
        texts[question_id].append(text)
    return texts


def export_rows(survey: Survey, questions: list[Question]):
    """One row per response (student name first unless anonymous), answers in question order, streamed."""
    from crm.auth.models import User
    from crm.core.listing import stream_rows

    column = {q.id: i for i, q in enumerate(questions)}
    stmt = (
        sa.select(Response.key, User.name, Answer.question_id, Answer.score, Option.label, Answer.text)
        .join(Answer, Answer.response_key == Response.key)
        .outerjoin(Option, Option.id == Answer.option_id)
        .outerjoin(Student, Student.id == Response.student_id)
        .outerjoin(User, User.id == Student.user_id)
        .where(Response.survey_id == survey.id)
        .order_by(Response.key)
    )
    current_key = None
    row: list = []
    name = None
    for key, student_name, question_id, score, label, text in stream_rows(stmt):
        if key != current_key:
            if current_key is not None:
                yield _export_line(survey, name, row)
            current_key, name, row = key, student_name, [None] * len(questions)
        if question_id in column:
            row[column[question_id]] = score if score is not None else (label if label is not None else text)
    if current_key is not None:
        yield _export_line(survey, name, row)


def _export_line(survey: Survey, name: str | None, row: list) -> list:
    return row if survey.anonymous else [name or "", *row]
