"""Class surveys (Q-1 … Q-3): surveys, their ordered questions and options, who took part, what was answered.

Anonymous mode (Q-3) keeps *who took part* (`survey_participations`, one row per
(survey, student), enforced by a unique constraint) apart from *what was
answered* (`survey_responses` + `survey_answers`). Both are written in one
transaction, and nothing stored links them:

* a response's key is 32 random hex characters, not a sequence, so its key says
  nothing about when it was written relative to a participation;
* responses and answers carry no timestamp and no student id (the student id is
  stored on the response only when the survey is *not* anonymous);
* answers have a composite key (response key, question), again no sequence.

Residual risk, stated rather than hidden: someone with direct access to the
database server can still correlate rows through storage internals (PostgreSQL's
`xmin` transaction id and the physical row order until the table is vacuumed
and frozen, the write-ahead log, backups taken between two answers). The
application never reads those; results list text answers ordered by the random
response key, not by arrival.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db
from crm.org.models import ClassList

KIND_SCORE, KIND_CHOICE, KIND_TEXT = "score", "choice", "text"
KINDS = (KIND_SCORE, KIND_CHOICE, KIND_TEXT)
SCORE_MIN, SCORE_MAX = 1, 10


class Survey(db.Model):
    """A survey (调查问卷) of one class with open and close times (Q-1); a draft until published."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    creator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    opens_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    closes_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    anonymous: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Bumped by a conditional UPDATE in the answering transaction: it locks the survey row, so
    # an editor saving questions and a first answer never interleave.
    answer_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    class_list: Mapped[ClassList] = relationship()
    creator: Mapped[User | None] = relationship()
    questions: Mapped[list[Question]] = relationship(
        back_populates="survey", order_by="[Question.position, Question.id]", cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.CheckConstraint("closes_at > opens_at", name="times_ordered"),
        sa.CheckConstraint("answer_count >= 0", name="answer_count_not_negative"),
    )

    @property
    def is_draft(self) -> bool:
        """Not yet shared with the class."""
        return self.published_at is None

    @property
    def locked(self) -> bool:
        """Someone has answered: questions can no longer change (Q-2)."""
        return self.answer_count > 0

    def is_open(self, now: dt.datetime) -> bool:
        """Published and between its open and close times."""
        return self.published_at is not None and as_utc(self.opens_at) <= now < as_utc(self.closes_at)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they are stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Question(db.Model):
    """One question of a survey, in `position` order: score 1–10, single choice or text (Q-1)."""

    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))
    prompt: Mapped[str] = mapped_column(sa.String(500))

    survey: Mapped[Survey] = relationship(back_populates="questions")
    options: Mapped[list[Option]] = relationship(
        back_populates="question", order_by="[Option.position, Option.id]", cascade="all, delete-orphan",
    )

    __table_args__ = (sa.CheckConstraint("kind IN ('score', 'choice', 'text')", name="kind_known"),)


class Option(db.Model):
    """An option of a single-choice question: a label and the score it counts for."""

    __tablename__ = "survey_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_questions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(200))
    score: Mapped[int]

    question: Mapped[Question] = relationship(back_populates="options")


class Participation(db.Model):
    """That a student answered a survey, and when (Q-3): once each, by the unique constraint."""

    __tablename__ = "survey_participations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id", ondelete="CASCADE"), index=True)
    answered_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("survey_id", "student_id"),)


class Response(db.Model):
    """One submitted questionnaire: a random key, no time; the student only when not anonymous."""

    __tablename__ = "survey_responses"

    key: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int | None] = mapped_column(sa.ForeignKey("students.id", ondelete="SET NULL"))


class Answer(db.Model):
    """The answer to one question in one response: a score, an option or a text."""

    __tablename__ = "survey_answers"

    response_key: Mapped[str] = mapped_column(
        sa.ForeignKey("survey_responses.key", ondelete="CASCADE"), primary_key=True)
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_questions.id", ondelete="CASCADE"), primary_key=True)
    # Denormalised so the results aggregate one survey by index, without joining responses.
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    score: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # Indexed for the foreign keys: deleting a question or option (editor, before any answer)
    # must not scan every survey's answers.
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("survey_options.id", ondelete="CASCADE"),
                                                  index=True)
    text: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("ix_survey_answers_survey_question", "survey_id", "question_id"),
        sa.Index("ix_survey_answers_question_id", "question_id"),
        sa.CheckConstraint("score IS NULL OR (score BETWEEN 1 AND 10)", name="score_range"),
        sa.CheckConstraint(
            "(CASE WHEN score IS NULL THEN 0 ELSE 1 END) + (CASE WHEN option_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN text IS NULL THEN 0 ELSE 1 END) = 1", name="one_value"),
    )
