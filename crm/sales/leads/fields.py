"""The lead's fields (S-1): one definition of lengths, normalisation, choices and dates.

Every way a lead arrives -- the entry and edit forms, the web-to-lead API, the Excel
import -- checks its values here, so the same QQ, phone, e-mail, date or choice gets the
same answer everywhere (tests/sales/test_lead_fields_everywhere.py runs one table of
cases through all three). Functions raise DomainError naming the field; `validate_lead`
collects every field's message at once (ValidationFailed).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from crm.core.errors import DomainError
from crm.core.ids import is_id
from crm.extensions import db
from crm.org.models import Course
from crm.sales import choices
from crm.sales.models import Customer

# The lead's field lengths: the database columns, the form's maxlength and these checks agree.
NAME_MAX, QQ_MAX, PHONE_INPUT_MAX, EMAIL_MAX = 32, 12, 20, 254
TEXT_LIMITS = {"graduation_school": 64, "major": 64, "company": 64, "salary": 32, "memo": 2000}
MAX_COURSES = 20
CHOICE_FIELDS = {
    "gender": (choices.GENDER, choices.GENDER_EN),
    "education": (choices.EDUCATION, choices.EDUCATION_EN),
    "experience": (choices.EXPERIENCE, choices.EXPERIENCE_EN),
    "work_status": (choices.WORK_STATUS, choices.WORK_STATUS_EN),
    "source": (choices.SOURCE, choices.SOURCE_EN),
}
QQ_RE = re.compile(r"[1-9][0-9]{4,11}")
MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
LANDLINE_RE = re.compile(r"0[1-9][0-9]{8,10}")  # area code (2-3 digits after 0) + 7-8 digit number
# Unicode category Cc is exactly the C0 and C1 controls (a stable set); free text may keep \t, \n and \r.
TEXT_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
PHONE_NOISE_RE = re.compile(r"[\s\-().\u3000\u2010-\u2015]")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
EARLIEST_DATE = dt.date(2000, 1, 1)


def _label_lookup() -> dict[str, dict[str, int]]:
    """Per choice field: casefolded Chinese and English label → code."""
    lookup = {}
    for name, (labels, labels_en) in CHOICE_FIELDS.items():
        names = {}
        for code, label in labels.items():
            names[label.casefold()] = names[labels_en[code].casefold()] = code
        lookup[name] = names
    return lookup


_LABEL_LOOKUP = _label_lookup()


class ValidationFailed(DomainError):
    """One or more fields are invalid; `errors` maps each field to its message."""

    status_code = 422

    def __init__(self, errors: dict[str, str]):
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)
        self.errors = errors


def as_text(value: Any, field_name: str) -> str:
    """A value as stripped text; numbers are accepted (JSON and Excel give them), nothing else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DomainError(_("Enter text, not a list or other value."), field=field_name)
    return unicodedata.normalize("NFKC", str(value)).strip()


def normalise_qq(value: Any) -> str:
    """A QQ number: 5-12 digits, no leading zero (full-width digits and spaces allowed)."""
    text = re.sub(r"\s", "", as_text(value, "qq"))
    if not text:
        raise DomainError(_("Enter the QQ number."), field="qq")
    if not QQ_RE.fullmatch(text):
        raise DomainError(_("A QQ number is 5 to 12 digits and does not start with 0."), field="qq")
    return text


def normalise_phone(value: Any) -> str:
    """A mainland mobile (11 digits, optional +86) or a landline with area code, as digits only."""
    text = PHONE_NOISE_RE.sub("", as_text(value, "phone"))
    if not text:
        raise DomainError(_("Enter a phone number."), field="phone")
    if text.startswith("+"):
        text = text[1:]
        if not text.startswith("86"):
            raise DomainError(_("Only mainland China numbers (+86) are accepted."), field="phone")
        text = text[2:]
        if not MOBILE_RE.fullmatch(text):
            text = "0" + text.lstrip("0")  # +86 10 1234 5678 is the landline 010 1234 5678
    elif text.startswith("0086"):
        text = text[4:]
        if not MOBILE_RE.fullmatch(text):
            text = "0" + text.lstrip("0")
    elif len(text) == 13 and text.startswith("86"):
        text = text[2:]
    if not text.isdigit() or not (MOBILE_RE.fullmatch(text) or LANDLINE_RE.fullmatch(text)):
        raise DomainError(
            _("Enter an 11-digit mobile number (e.g. 13812345678) or a landline with its area code "
              "(e.g. 010-12345678)."),
            field="phone",
        )
    return text


def normalise_email(value: Any) -> str:
    """An e-mail address, validated (no DNS look-up) and lower-cased."""
    text = as_text(value, "email")
    if not text:
        raise DomainError(_("Enter an e-mail address."), field="email")
    if len(text) > EMAIL_MAX:
        raise DomainError(_("An e-mail address has at most %(n)s characters.", n=EMAIL_MAX), field="email")
    try:
        normalised = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_("%(value)s is not a valid e-mail address.", value=text[:80]), field="email") from None
    return normalised.lower()


# -- validation --------------------------------------------------------------------------------
def is_blank(value: Any) -> bool:
    """None, or text of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def choice_code(name: str, value: Any, *, required: bool) -> int | None:
    """A choice by its code (a whole number, also as text or an Excel number) or its Chinese or English label."""
    labels, labels_en = CHOICE_FIELDS[name]
    if is_blank(value):
        if required:
            raise DomainError(_("Choose a value."), field=name)
        return None
    code: int | None = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        code = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        code = int(text) if text.isdigit() and len(text) < 6 else _LABEL_LOOKUP[name].get(text.casefold())
    if code not in labels:
        shown = str(value).strip()[:40]
        raise DomainError(_("\"%(value)s\" is not one of the allowed values (%(allowed)s).", value=shown,
                            allowed="、".join(labels.values())), field=name)
    return code


def check_text(name: str, value: Any, limit: int) -> str | None:
    """Optional free text: at most `limit` characters, no control characters but line breaks and tabs."""
    if is_blank(value):
        return None
    text = as_text(value, name)
    if len(text) > limit:
        raise DomainError(_("At most %(max)s characters.", max=limit), field=name)
    if TEXT_CONTROL_RE.search(text):
        raise DomainError(_("Contains control characters."), field=name)
    return text


def check_name(value: Any) -> str:
    """The lead's name: required, at most NAME_MAX characters, no control or format characters."""
    if is_blank(value):
        raise DomainError(_("Enter the name."), field="name")
    text = as_text(value, "name")
    if len(text) > NAME_MAX:
        raise DomainError(_("A name has at most %(n)s characters.", n=NAME_MAX), field="name")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise DomainError(_("The name contains control characters."), field="name")
    return text


def inquiry_date(value: Any, today: dt.date) -> dt.date:
    """The inquiry date: today when blank; a date, or text YYYY-MM-DD (also / or . between); not in the future."""
    if is_blank(value):
        return today
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        text = unicodedata.normalize("NFKC", str(value)).strip() if isinstance(value, (str, int, float)) else ""
        for fmt in DATE_FORMATS:
            try:
                value = dt.datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        else:
            raise DomainError(_("\"%(value)s\" is not a date (write it as YYYY-MM-DD).", value=str(value)[:40]),
                              field="inquiry_date")
    if value > today:
        raise DomainError(_("The date %(value)s is in the future.", value=value.isoformat()), field="inquiry_date")
    if value < EARLIEST_DATE:
        raise DomainError(_("The date %(value)s is too far in the past.", value=value.isoformat()),
                          field="inquiry_date")
    return value


def record_id(name: str, value: Any) -> int | None:
    """A record number (1 … 2**31-1), or None when blank."""
    if is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise DomainError(_("Enter a record number."), field=name)
    number = int(str(value).strip())
    if not is_id(number):
        raise DomainError(_("Enter a record number."), field=name)
    return number


def courses_by_id(value: Any) -> list[Course]:
    """Courses of interest from a list of course ids (at most MAX_COURSES, each must exist)."""
    if is_blank(value):
        return []
    if not isinstance(value, (list, tuple)):
        raise DomainError(_("Give the courses as a list of course numbers."), field="course_ids")
    ids = []
    for item in value:
        number = record_id("course_ids", item)
        if number is None:
            raise DomainError(_("Give the courses as a list of course numbers."), field="course_ids")
        if number not in ids:
            ids.append(number)
    if len(ids) > MAX_COURSES:
        raise DomainError(_("Choose at most %(max)s courses.", max=MAX_COURSES), field="course_ids")
    if not ids:
        return []
    found = {course.id: course for course in db.session.scalars(sa.select(Course).where(Course.id.in_(ids)))}
    missing = [number for number in ids if number not in found]
    if missing:
        raise DomainError(_("Unknown course: %(ids)s.", ids=", ".join(map(str, missing))), field="course_ids")
    return [found[number] for number in ids]


def validate_lead(data: dict[str, Any], *, channel: str, today: dt.date) -> dict[str, Any]:
    """Check and normalise every S-1 field; raises ValidationFailed listing each bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}

    def run(key: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as error:
            errors.setdefault(error.field or key, error.message)
            return None

    clean["qq"] = run("qq", normalise_qq, data.get("qq"))
    clean["name"] = run("name", check_name, data.get("name"))
    clean["gender"] = run("gender", choice_code, "gender", data.get("gender"), required=True)
    for key in ("education", "experience", "work_status"):
        clean[key] = run(key, choice_code, key, data.get(key), required=False)
    source = data.get("source")
    if is_blank(source) and channel == "api":
        source = 3  # 官方网站: the API serves the school's own website forms
    clean["source"] = run("source", choice_code, "source", source, required=True)
    for key, limit in TEXT_LIMITS.items():
        clean[key] = run(key, check_text, key, data.get(key), limit)
    clean["phone"] = None if is_blank(data.get("phone")) else run("phone", normalise_phone, data.get("phone"))
    clean["email"] = None if is_blank(data.get("email")) else run("email", normalise_email, data.get("email"))
    clean["inquiry_date"] = run("inquiry_date", inquiry_date, data.get("inquiry_date"), today)
    clean["courses"] = run("course_ids", courses_by_id, data.get("course_ids"))

    referrer_id = run("referred_by_id", record_id, "referred_by_id", data.get("referred_by_id"))
    referrer_qq = None
    if not is_blank(data.get("referred_by_qq")):
        try:
            referrer_qq = normalise_qq(data.get("referred_by_qq"))
        except DomainError as error:
            errors.setdefault("referred_by_qq", error.message)
    clean["referred_by_id"] = None
    if referrer_id is not None:
        if db.session.get(Customer, referrer_id) is None:
            errors.setdefault("referred_by_id", _("No lead has the number %(id)s.", id=referrer_id))
        clean["referred_by_id"] = referrer_id
    elif referrer_qq is not None:
        found = db.session.scalar(sa.select(Customer.id).where(Customer.qq == referrer_qq))
        if found is None:
            errors.setdefault("referred_by_qq", _("No lead has the QQ number %(qq)s.", qq=referrer_qq))
        clean["referred_by_id"] = found
    if errors:
        raise ValidationFailed(errors)
    return clean
