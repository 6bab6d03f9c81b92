"""Forms of the survey pages: the one-page editor, copy, and the answer form's CSRF."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crm.core.clock import local_zone, to_local
from crm.core.forms import CrmForm
from crm.core.ids import is_id
from crm.surveys.models import KIND_CHOICE, KIND_SCORE, KIND_TEXT
from crm.surveys.services import (
    LABEL_MAX,
    MAX_OPTIONS,
    MAX_QUESTIONS,
    OPTION_SCORE_MAX,
    OPTION_SCORE_MIN,
    PROMPT_MAX,
    TITLE_MAX,
    OptionData,
    QuestionData,
    SurveyData,
)

# Posted rows beyond these are ignored by WTForms; the services refuse more than MAX_* anyway.
POSTED_QUESTIONS_CAP = MAX_QUESTIONS * 2
POSTED_OPTIONS_CAP = MAX_OPTIONS * 2
BLANK_OPTION_SLOTS = 4
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"

KIND_LABELS = {KIND_SCORE: _l("Score 1–10"), KIND_CHOICE: _l("Single choice"), KIND_TEXT: _l("Text comment")}


def _strip(value):
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


def _row_id(value: str | None) -> int | None:
    """A posted row id: None for a new row, -1 (owned by nothing, so refused) for garbage."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        return -1
    return number if is_id(number) else -1


def within_years(form, field) -> None:
    """A time between the years 2000 and 2100 (anything else is a typing slip, and year 1 cannot shift zones)."""
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Enter a date between the years 2000 and 2100."))


def to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A local wall-clock time from the form as an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=local_zone()).astimezone(dt.timezone.utc)


def to_field(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as the local wall-clock time a datetime-local input shows."""
    local = to_local(value)
    return local.replace(tzinfo=None, second=0, microsecond=0) if local else None


class OptionForm(Form):
    """One option row of a single-choice question."""

    id = HiddenField()
    position = IntegerField(_l("Order"), validators=[Optional(), NumberRange(min=1, max=999)])
    label = StringField(_l("Option"), filters=[_strip], validators=[Length(max=LABEL_MAX)])
    score = IntegerField(_l("Score"), validators=[Optional(),
                                                  NumberRange(min=OPTION_SCORE_MIN, max=OPTION_SCORE_MAX)])
    remove = BooleanField(_l("Remove"))


class QuestionForm(Form):
    """One question row of the editor."""

    id = HiddenField()
    position = IntegerField(_l("Order"), validators=[Optional(), NumberRange(min=1, max=999)])
    kind = SelectField(_l("Type"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()], default=KIND_SCORE)
    prompt = TextAreaField(_l("Question"), filters=[_strip], validators=[Length(max=PROMPT_MAX)])
    remove = BooleanField(_l("Remove"))
    options = FieldList(FormField(OptionForm), max_entries=POSTED_OPTIONS_CAP)


class SurveyForm(CrmForm):
    """The editor page: title, times, anonymous mode and every question with its options (Q-2)."""

    class_id = SelectField(_l("Class"), coerce=int, validate_choice=False)
    title = StringField(_l("Title"), filters=[_strip], validators=[DataRequired(), Length(max=TITLE_MAX)])
    opens_at = DateTimeLocalField(_l("Opens at"), format=DATETIME_FORMAT,
                                 validators=[Optional(), within_years])
    closes_at = DateTimeLocalField(_l("Closes at"), format=DATETIME_FORMAT,
                                  validators=[InputRequired(), within_years])
    anonymous = BooleanField(_l("Anonymous: keep who took part apart from what they answered"))
    questions = FieldList(FormField(QuestionForm), max_entries=POSTED_QUESTIONS_CAP)

    def question_data(self) -> list[QuestionData]:
        """The questions in their chosen order, removed rows and unused blank rows left out."""
        rows = []
        for index, entry in enumerate(self.questions.entries):
            form = entry.form
            row_id = _row_id(form.id.data)
            labels = any(option.form.label.data for option in form.options.entries)
            if form.remove.data or (row_id is None and not form.prompt.data and not labels):
                continue  # removed, or the blank row left unused
            options = []
            for option_index, option_entry in enumerate(form.options.entries):
                option = option_entry.form
                option_id = _row_id(option.id.data)
                if option.remove.data or (option_id is None and not option.label.data):
                    continue
                order = option.position.data or 1000 + option_index
                options.append((order, option_index, OptionData(option_id, option.label.data or "",
                                                                option.score.data)))
            options.sort(key=lambda item: (item[0], item[1]))
            order = form.position.data or 1000 + index
            rows.append((order, index, QuestionData(row_id, form.kind.data, form.prompt.data or "",
                                                    [o for _p, _i, o in options])))
        rows.sort(key=lambda item: (item[0], item[1]))
        return [question for _p, _i, question in rows]

    def survey_data(self, *, with_questions: bool) -> SurveyData:
        """The page's values as the services expect them."""
        return SurveyData(
            title=self.title.data or "", opens_at=to_utc(self.opens_at.data), closes_at=to_utc(self.closes_at.data),
            anonymous=bool(self.anonymous.data), questions=self.question_data() if with_questions else None,
        )

    def load(self, survey) -> None:
        """Fill the page from a stored survey (plus blank rows for new options)."""
        self.title.data = survey.title
        self.opens_at.data = to_field(survey.opens_at)
        self.closes_at.data = to_field(survey.closes_at)
        self.anonymous.data = survey.anonymous
        while self.questions.entries:
            self.questions.pop_entry()
        for question in survey.questions:
            entry = self.questions.append_entry()
            entry.form.id.data = str(question.id)
            entry.form.position.data = question.position
            entry.form.kind.data = question.kind
            entry.form.prompt.data = question.prompt
            for option in question.options:
                row = entry.form.options.append_entry()
                row.form.id.data = str(option.id)
                row.form.position.data = option.position
                row.form.label.data = option.label
                row.form.score.data = option.score

    def add_blank_rows(self) -> None:
        """One blank question (the plain-form way to add one) and blank option slots on every question."""
        entry = self.questions.append_entry()
        entry.form.position.data = len(self.questions.entries)
        for entry in self.questions.entries:
            used = len(entry.form.options.entries)
            for _ in range(max(0, BLANK_OPTION_SLOTS - used) if used < BLANK_OPTION_SLOTS else 1):
                row = entry.form.options.append_entry()
                row.form.position.data = len(entry.form.options.entries)


class CopyForm(CrmForm):
    """Copy a survey to another class as a new draft."""

    class_id = SelectField(_l("Class"), coerce=int, validate_choice=False)


class ActionForm(CrmForm):
    """A bare form for POST buttons (publish) and the answer form: CSRF only."""
