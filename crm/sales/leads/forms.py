"""Forms of the sales pages: lead entry and edit, follow-up, allocation table."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from crm.core.forms import CrmForm
from crm.sales import choices
from crm.sales.allocation_table import NUM_MAX, NUM_MIN, WEIGHT_MAX, WEIGHT_MIN
from crm.sales.leads import fields
from crm.sales.leads.services import NOTE_MAX_LENGTH

NONE_LABEL = "—"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _options(mapping: dict[int, str], optional: bool = False) -> list[SelectChoice]:
    options = [SelectChoice(code, label) for code, label in mapping.items()]
    return [SelectChoice(0, NONE_LABEL), *options] if optional else options


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class LeadForm(CrmForm):
    """A lead's profile (S-1 fields except consultant, status and dates).

    The form only collects the values: every format, length and choice rule is
    crm.sales.leads.intake's (the same for the form, the API and the Excel import),
    and its messages land under these fields. Lengths are also given to the
    browser as maxlength, from the same constants.
    """

    qq = StringField(_l("QQ"), filters=[_strip], validators=[DataRequired()],
                     render_kw={"maxlength": fields.QQ_MAX, "inputmode": "numeric"})
    name = StringField(_l("Name"), filters=[_strip], validators=[DataRequired()],
                       render_kw={"maxlength": fields.NAME_MAX})
    gender = SelectField(_l("Gender"), coerce=int, choices=_options(choices.GENDER))
    education = SelectField(_l("Education"), coerce=int, choices=_options(choices.EDUCATION, optional=True))
    graduation_school = StringField(_l("Graduation school"), filters=[_strip],
                                    render_kw={"maxlength": fields.TEXT_LIMITS["graduation_school"]})
    major = StringField(_l("Major"), filters=[_strip], render_kw={"maxlength": fields.TEXT_LIMITS["major"]})
    experience = SelectField(_l("Experience"), coerce=int, choices=_options(choices.EXPERIENCE, optional=True))
    work_status = SelectField(_l("Work status"), coerce=int, choices=_options(choices.WORK_STATUS, optional=True))
    company = StringField(_l("Company"), filters=[_strip], render_kw={"maxlength": fields.TEXT_LIMITS["company"]})
    salary = StringField(_l("Salary"), filters=[_strip], render_kw={"maxlength": fields.TEXT_LIMITS["salary"]})
    source = SelectField(_l("Source"), coerce=int, choices=_options(choices.SOURCE))
    referred_by = StringField(
        _l("Referred by (QQ or lead id)"), filters=[_strip],
        validators=[Optional(), Regexp(r"^[0-9]{1,18}$", message=_l("Enter the referrer's QQ number or lead id."))],
    )
    # The options are loaded only to show the form (crm.sales.leads.views): that each chosen course
    # exists is the intake's rule ("Unknown course: …"), so a POST that saves reads no course list.
    course_ids = SelectMultipleField(_l("Courses of interest"), coerce=int, validate_choice=False)
    phone = StringField(_l("Phone"), filters=[_strip], render_kw={"maxlength": fields.PHONE_INPUT_MAX})
    email = StringField(_l("E-mail"), filters=[_strip], render_kw={"maxlength": fields.EMAIL_MAX})
    memo = TextAreaField(_l("Memo"), filters=[_strip], render_kw={"maxlength": fields.TEXT_LIMITS["memo"]})

    def to_data(self) -> dict:
        """The lead's values as the services expect them (empty → None)."""
        def text(field):
            return field.data or None

        def code(field):
            return field.data or None

        return {
            "qq": self.qq.data,
            "name": self.name.data,
            "gender": self.gender.data,
            "education": code(self.education),
            "graduation_school": text(self.graduation_school),
            "major": text(self.major),
            "experience": code(self.experience),
            "work_status": code(self.work_status),
            "company": text(self.company),
            "salary": text(self.salary),
            "source": self.source.data,
            "referred_by": text(self.referred_by),
            "course_ids": list(self.course_ids.data or []),
            "phone": text(self.phone),
            "email": text(self.email),
            "memo": text(self.memo),
        }

    def load(self, customer) -> None:
        """Fill the form from a lead (GET of the edit page)."""
        for name in ("qq", "name", "gender", "graduation_school", "major", "company", "salary",
                     "source", "phone", "email", "memo"):
            getattr(self, name).data = getattr(customer, name)
        for name in ("education", "experience", "work_status"):
            getattr(self, name).data = getattr(customer, name) or 0
        self.referred_by.data = customer.referred_by.qq if customer.referred_by else ""
        self.course_ids.data = [c.id for c in customer.courses]


class FollowUpForm(CrmForm):
    """A follow-up note (S-13)."""

    note = TextAreaField(
        _l("Follow-up note"), filters=[_strip],
        validators=[DataRequired(message=_l("Write what was said.")),
                    Length(max=NOTE_MAX_LENGTH, message=_l("A note has at most 2000 characters."))],
    )


class RankRowForm(Form):
    """One consultant's row of the allocation table (no CSRF of its own; the page form has it)."""

    user_id = HiddenField()
    num = IntegerField(
        _l("Leads per cycle"),
        validators=[InputRequired(message=_l("Enter leads per cycle.")),
                    NumberRange(min=NUM_MIN, max=NUM_MAX, message=_l("Between 1 and 1000."))],
    )
    weight = IntegerField(
        _l("Weight"),
        validators=[InputRequired(message=_l("Enter a weight.")),
                    NumberRange(min=WEIGHT_MIN, max=WEIGHT_MAX, message=_l("Between 0 and 10000."))],
    )
    active = BooleanField(_l("Active"))
    on_leave_until = DateField(_l("On leave until"), validators=[Optional()])


class AllocationTableForm(CrmForm):
    """The whole allocation table, saved at once, plus an optional consultant to add (S-3)."""

    rows = FieldList(FormField(RankRowForm))
    new_user_id = SelectField(_l("Add consultant"), coerce=int, validate_choice=False)
    new_num = IntegerField(
        _l("Leads per cycle"), default=1,
        validators=[Optional(), NumberRange(min=NUM_MIN, max=NUM_MAX, message=_l("Between 1 and 1000."))],
    )
    new_weight = IntegerField(
        _l("Weight"), default=0,
        validators=[Optional(), NumberRange(min=WEIGHT_MIN, max=WEIGHT_MAX, message=_l("Between 0 and 10000."))],
    )
