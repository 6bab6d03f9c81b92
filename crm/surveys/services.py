"""Survey rules (Q-1, Q-2): who may manage and read a survey; create, edit, publish and copy.

Who may do what (row level, on top of the endpoint permissions):

* **manage** (edit, publish, copy from) needs `surveys.manage` and one of: the survey's
  creator, the tutor of its class (`ClassList.tutor_id`), or an organisation administrator
  (`org.edit`, the admin role). A new survey may be made for a class one tutors (admins: any).
* **results** need `surveys.results` or `surveys.manage` and one of: the creator, the class
  tutor, or a *director* -- a school-wide reader holding `org.classes.all` (by default the
  admin, CEO and sales director roles; the same rule as teaching's T-9).

Editing (Q-2): the whole editor page is saved by one call in one transaction. The survey
row is locked first (``SELECT … FOR UPDATE``; the answering transaction bumps
``answer_count`` with a conditional UPDATE of the same row), so "nobody has answered yet"
is checked and acted on without a race. After the first answer only the title and the
close time may change. Question and option ids in the posted data must belong to this
survey (and option ids to their question): a crafted post naming another survey's rows is
refused before anything is written.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from crm.core.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.org.models import ClassList
from crm.surveys.models import KIND_CHOICE, KINDS, Option, Question, Survey, as_utc

MAX_QUESTIONS = 50
MAX_OPTIONS = 20
TITLE_MAX = 200
PROMPT_MAX = 500
LABEL_MAX = 200
OPTION_SCORE_MIN, OPTION_SCORE_MAX = -100, 100


# -- who may ----------------------------------------------------------------------------------
def _codes(user) -> frozenset[str]:
    return user.permission_codes if user is not None and user.is_authenticated else frozenset()


def is_director(user) -> bool:
    """A school-wide reader of survey results: holds org.classes.all (admin, CEO, directors)."""
    return "org.classes.all" in _codes(user)


def _is_organiser(user) -> bool:
    return "org.edit" in _codes(user)


def _close_to(user, survey: Survey) -> bool:
    """Creator of the survey or tutor of its class."""
    return survey.creator_id == user.id or survey.class_list.tutor_id == user.id


def may_manage(user, survey: Survey) -> bool:
    """May edit, publish and copy this survey."""
    return "surveys.manage" in _codes(user) and (_close_to(user, survey) or _is_organiser(user))


def may_see_results(user, survey: Survey) -> bool:
    """May read this survey's results and export them."""
    codes = _codes(user)
    if not ({"surveys.results", "surveys.manage"} & codes):
        return False
    return _close_to(user, survey) or is_director(user)


def may_create_for(user, klass: ClassList) -> bool:
    """May make a survey for this class (its tutor; organisation administrators for any class)."""
    return "surveys.manage" in _codes(user) and (klass.tutor_id == user.id or _is_organiser(user))


def visible_clause(user):
    """SQL condition on Survey (joined to ClassList) for the surveys this user may list."""
    if is_director(user) or _is_organiser(user):
        return sa.true()
    return sa.or_(Survey.creator_id == user.id, ClassList.tutor_id == user.id)


def creatable_classes(user) -> list[ClassList]:
    """Classes this user may make surveys for."""
    stmt = sa.select(ClassList).order_by(ClassList.start_date.desc(), ClassList.id.desc())
    if not _is_organiser(user):
        stmt = stmt.where(ClassList.tutor_id == user.id)
    return list(db.session.scalars(stmt))


def get_survey(survey_id: int, *, lock: bool = False) -> Survey:
    """A survey by id (NotFound otherwise); `lock` takes its row lock for the transaction."""
    stmt = sa.select(Survey).where(Survey.id == survey_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    survey = db.session.scalar(stmt)
    if survey is None:
        raise NotFound(_("This survey does not exist."))
    return survey


def managed_survey(user, survey_id: int, *, lock: bool = False) -> Survey:
    """The survey if `user` may manage it (NotFound / Forbidden otherwise)."""
    survey = get_survey(survey_id, lock=lock)
    if not may_manage(user, survey):
        raise Forbidden(_("Only the survey's creator, the class tutor or an administrator may change it."))
    return survey


def readable_survey(user, survey_id: int) -> Survey:
    """The survey if `user` may read its results (NotFound / Forbidden otherwise)."""
    survey = get_survey(survey_id)
    if not may_see_results(user, survey):
        raise Forbidden(_("Only the survey's creator, the class tutor and directors see its results."))
    return survey


# -- editor data --------------------------------------------------------------------------------
@dataclass
class OptionData:
    """An option as the editor posts it (id None: new)."""

    id: int | None
    label: str
    score: int


@dataclass
class QuestionData:
    """A question as the editor posts it (id None: new); options only for single choice."""

    id: int | None
    kind: str
    prompt: str
    options: list[OptionData] = field(default_factory=list)


@dataclass
class SurveyData:
    """The editor page: `questions` None means "leave the questions as they are"."""

    title: str
    opens_at: dt.datetime | None
    closes_at: dt.datetime
    anonymous: bool | None = False
    questions: list[QuestionData] | None = None


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("\x00", "").split())


def _check_header(data: SurveyData) -> None:
    data.title = _clean(data.title)
    if not data.title:
        raise Invalid(_("Give the survey a title."), field="title")
    if len(data.title) > TITLE_MAX:
        raise Invalid(_("The title is longer than %(n)s characters.", n=TITLE_MAX), field="title")
    if data.closes_at <= data.opens_at:
        raise Invalid(_("The close time must be after the open time."), field="closes_at")


def _check_questions(questions: list[QuestionData]) -> None:
    if not questions:
        raise Invalid(_("Add at least one question."), field="questions")
    if len(questions) > MAX_QUESTIONS:
        raise Invalid(_("A survey has at most %(n)s questions.", n=MAX_QUESTIONS), field="questions")
    for number, question in enumerate(questions, start=1):
        question.prompt = _clean(question.prompt)
        if question.kind not in KINDS:
            raise Invalid(_("Question %(n)s has an unknown type.", n=number), field="questions")
        if not question.prompt:
            raise Invalid(_("Question %(n)s has no text.", n=number), field="questions")
        if len(question.prompt) > PROMPT_MAX:
            raise Invalid(_("Question %(n)s is longer than %(m)s characters.", n=number, m=PROMPT_MAX),
                          field="questions")
        if question.kind != KIND_CHOICE:
            question.options = []
            continue
        if not 2 <= len(question.options) <= MAX_OPTIONS:
            raise Invalid(_("Question %(n)s needs between 2 and %(m)s options.", n=number, m=MAX_OPTIONS),
                          field="questions")
        for option in question.options:
            option.label = _clean(option.label)
            if not option.label or len(option.label) > LABEL_MAX:
                raise Invalid(_("Every option of question %(n)s needs a label of at most %(m)s characters.",
                                n=number, m=LABEL_MAX), field="questions")
            if not isinstance(option.score, int) or not OPTION_SCORE_MIN <= option.score <= OPTION_SCORE_MAX:
                raise Invalid(_("Option scores of question %(n)s must be whole numbers from %(a)s to %(b)s.",
                                n=number, a=OPTION_SCORE_MIN, b=OPTION_SCORE_MAX), field="questions")


def _check_ids(survey: Survey | None, questions: list[QuestionData]) -> None:
    """Every posted id belongs to this survey (options: to their question), each used once."""
    owned = {q.id: {o.id for o in q.options} for q in survey.questions} if survey else {}
    seen_questions: set[int] = set()
    seen_options: set[int] = set()
    refused = _("The form refers to questions or options that are not part of this survey.")
    for question in questions:
        if question.id is not None:
            if question.id not in owned or question.id in seen_questions:
                raise Forbidden(refused)
            seen_questions.add(question.id)
        for option in question.options:
            if option.id is None:
                continue
            if question.id is None or option.id not in owned[question.id] or option.id in seen_options:
                raise Forbidden(refused)
            seen_options.add(option.id)


def _write_questions(survey: Survey, questions: list[QuestionData]) -> None:
    """Replace the survey's questions by the posted list: update kept rows, add new, delete the rest."""
    existing = {q.id: q for q in survey.questions}
    for position, data in enumerate(questions, start=1):
        if data.id is not None:
            question = existing.pop(data.id)
        else:
            question = Question(survey_id=survey.id)
            db.session.add(question)
        question.position, question.kind, question.prompt = position, data.kind, data.prompt
        _write_options(question, data.options)
        db.session.flush()  # one question at a time: a failure part-way is rolled back as a whole
    for question in existing.values():
        db.session.delete(question)
    db.session.flush()
    db.session.expire(survey, ["questions"])


def _write_options(question: Question, options: list[OptionData]) -> None:
    existing = {o.id: o for o in question.options}
    kept: list[Option] = []
    for position, data in enumerate(options, start=1):
        option = existing.pop(data.id) if data.id is not None else Option()
        option.position, option.label, option.score = position, data.label, data.score
        kept.append(option)
    for option in existing.values():
        db.session.delete(option)
    question.options = kept


# -- operations ---------------------------------------------------------------------------------
def create_survey(actor, class_id: int, data: SurveyData, *, now: dt.datetime) -> Survey:
    """A new draft survey for a class with its questions (Q-1, Q-2)."""
    klass = db.session.get(ClassList, class_id)
    if klass is None:
        raise Invalid(_("Choose a class."), field="class_id")
    if not may_create_for(actor, klass):
        raise Forbidden(_("You may make surveys only for classes you tutor."))
    if data.opens_at is None:
        data.opens_at = now.replace(second=0, microsecond=0)
    _check_header(data)
    if data.closes_at <= now:
        raise Invalid(_("The close time must be in the future."), field="closes_at")
    _check_questions(data.questions or [])
    survey = Survey(class_id=klass.id, class_list=klass, title=data.title, creator_id=actor.id,
                    opens_at=data.opens_at, closes_at=data.closes_at, anonymous=bool(data.anonymous),
                    answer_count=0)
    db.session.add(survey)
    db.session.flush()
    _write_questions(survey, data.questions or [])
    return survey


def save_survey(actor, survey_id: int, data: SurveyData, *, now: dt.datetime) -> Survey:
    """Save the editor page in one go; after the first answer only title and close time (Q-2).

    `data.questions` None leaves the questions alone; `data.opens_at`/`anonymous` None leave those.
    """
    survey = managed_survey(actor, survey_id, lock=True)
    opens_at = data.opens_at or as_utc(survey.opens_at)
    anonymous = survey.anonymous if data.anonymous is None else data.anonymous
    if survey.locked:
        moved = abs((opens_at - as_utc(survey.opens_at)).total_seconds()) >= 60
        if data.questions is not None or anonymous != survey.anonymous or moved:
            raise Conflict(_("Students have already answered this survey: only its title and close time "
                             "can change now."))
    _check_header(SurveyData(title=data.title, opens_at=opens_at, closes_at=data.closes_at))
    data.title = _clean(data.title)
    if survey.locked:
        survey.title, survey.closes_at = data.title, data.closes_at
        db.session.flush()
        return survey
    if data.questions is not None:
        _check_questions(data.questions)
        _check_ids(survey, data.questions)
    survey.title, survey.opens_at, survey.closes_at = data.title, opens_at, data.closes_at
    survey.anonymous = anonymous
    if data.questions is not None:
        _write_questions(survey, data.questions)
    db.session.flush()
    return survey


def publish_survey(actor, survey_id: int, *, now: dt.datetime) -> Survey:
    """Share a draft with its class: students see it between its open and close times."""
    survey = managed_survey(actor, survey_id, lock=True)
    if not survey.is_draft:
        raise Conflict(_("This survey is already shared with the class."))
    if not survey.questions:
        raise Invalid(_("Add at least one question before sharing the survey."))
    if as_utc(survey.closes_at) <= now:
        raise Invalid(_("The close time has passed: move it to the future first."), field="closes_at")
    survey.published_at = now
    db.session.flush()
    return survey


def copy_survey(actor, survey_id: int, class_id: int, *, now: dt.datetime) -> Survey:
    """A new draft for another class with the same questions; it opens now for the same length of time."""
    source = db.session.scalar(
        sa.select(Survey).where(Survey.id == survey_id)
        .options(selectinload(Survey.questions).selectinload(Question.options))
    )
    if source is None:
        raise NotFound(_("This survey does not exist."))
    if not (may_manage(actor, source) or may_see_results(actor, source)):
        raise Forbidden(_("You may not copy this survey."))
    length = as_utc(source.closes_at) - as_utc(source.opens_at)
    opens_at = now.replace(second=0, microsecond=0)
    data = SurveyData(
        title=source.title, opens_at=opens_at, closes_at=opens_at + length, anonymous=source.anonymous,
        questions=[QuestionData(None, q.kind, q.prompt, [OptionData(None, o.label, o.score) for o in q.options])
                   for q in source.questions],
    )
    return create_survey(actor, class_id, data, now=now)
