"""Single-lead intake (S-8, S-10): validate, deduplicate, allocate, save, queue the e-mail.

`create_lead` is shared by the entry form, the web-to-lead API and anything
else that takes one lead at a time. It flushes and never commits; the caller
commits once (crm.core.uow): the e-mail is sent after that commit, and the
allocation slot goes back to the head of the queue if the transaction fails.

Duplicates are refused on QQ, phone or e-mail (normalised). The pre-check
gives the common case a friendly answer; the database's unique constraints
are the real guard, and a concurrent duplicate that slips past the pre-check
surfaces as `DuplicateLead` too, never as a server error.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import has_request_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from crm.auth.models import User
from crm.core import audit, uow
from crm.core.errors import Conflict, DomainError
from crm.core.ids import is_id
from crm.extensions import db
from crm.org.models import Course
from crm.sales import allocation, choices
from crm.sales.models import Customer, CustomerDistribution

# Every key create_lead understands; the API refuses anything else.
FIELDS = (
    "qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
    "company", "salary", "source", "referred_by_id", "referred_by_qq", "course_ids", "phone", "email",
    "memo", "inquiry_date",
)
# The lead's field lengths: the database columns, the form's maxlength and these checks agree.
NAME_MAX, QQ_MAX, PHONE_INPUT_MAX, EMAIL_MAX = 32, 12, 20, 254
TEXT_LIMITS = {"graduation_school": 64, "major": 64, "company": 64, "salary": 32, "memo": 2000}
MAX_COURSES = 20
ORIGIN_BY_CHANNEL = {"form": choices.ORIGIN_AUTO, "api": choices.ORIGIN_API, "import": choices.ORIGIN_IMPORT}
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
PHONE_NOISE_RE = re.compile(r"[\s\-().\u3000\u2010-\u2015]")


class ValidationFailed(DomainError):
    """One or more fields are invalid; `errors` maps each field to its message."""

    status_code = 422

    def __init__(self, errors: dict[str, str]):
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)
        self.errors = errors


class DuplicateLead(Conflict):
    """A lead with this QQ, phone or e-mail already exists; `existing` is that lead."""

    def __init__(self, existing: Customer, field_name: str):
        labels = {"qq": _("QQ"), "phone": _("phone number"), "email": _("e-mail address")}
        super().__init__(
            _("A lead with this %(what)s already exists.", what=labels[field_name]),
            field=field_name,
        )
        self.existing = existing
        self.existing_id = existing.id


@dataclass
class IntakeResult:
    """What create_lead did: the saved lead, its consultant (None: public pool), e-mails to dispatch."""

    customer: Customer
    consultant_id: int | None
    notification_ids: list[int] = field(default_factory=list)


# -- normalisers (also used by the Excel import) -----------------------------------------------
def _as_text(value: Any, field_name: str) -> str:
    """A value as stripped text; numbers are accepted (JSON and Excel give them), nothing else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DomainError(_("Enter text, not a list or other value."), field=field_name)
    return unicodedata.normalize("NFKC", str(value)).strip()


def normalise_qq(value: Any) -> str:
    """A QQ number: 5-12 digits, no leading zero (full-width digits and spaces allowed)."""
    text = re.sub(r"\s", "", _as_text(value, "qq"))
    if not text:
        raise DomainError(_("Enter the QQ number."), field="qq")
    if not QQ_RE.fullmatch(text):
        raise DomainError(_("A QQ number is 5 to 12 digits and does not start with 0."), field="qq")
    return text


def normalise_phone(value: Any) -> str:
    """A mainland mobile (11 digits, optional +86) or a landline with area code, as digits only."""
    text = PHONE_NOISE_RE.sub("", _as_text(value, "phone"))
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
    text = _as_text(value, "email")
    if not text:
        raise DomainError(_("Enter an e-mail address."), field="email")
    if len(text) > EMAIL_MAX:
        raise DomainError(_("An e-mail address has at most %(n)s characters.", n=EMAIL_MAX), field="email")
    try:
        normalised = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_("%(value)s is not a valid e-mail address.", value=text[:80]), field="email") from None
    return normalised.lower()


def find_duplicate(qq: str | None, phone: str | None, email: str | None) -> Customer | None:
    """The lead that already has this QQ, phone or e-mail (values already normalised), if any."""
    conditions = []
    if qq:
        conditions.append(Customer.qq == qq)
    if phone:
        conditions.append(Customer.phone == phone)
    if email:
        conditions.append(Customer.email == email.lower())  # stored lower-case (normalise_email)
    if not conditions:
        return None
    return db.session.scalars(sa.select(Customer).where(sa.or_(*conditions)).order_by(Customer.id).limit(1)).first()


def _duplicate_field(existing: Customer, qq: str | None, phone: str | None, email: str | None) -> str:
    if qq and existing.qq == qq:
        return "qq"
    if phone and existing.phone == phone:
        return "phone"
    return "email"


# -- validation --------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _choice(name: str, value: Any, *, required: bool) -> int | None:
    """A choice by code (int or digit string) or by its exact Chinese/English label."""
    labels, labels_en = CHOICE_FIELDS[name]
    if _blank(value):
        if required:
            raise DomainError(_("Choose a value."), field=name)
        return None
    code: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        code = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            code = int(text)
        else:
            for mapping in (labels, labels_en):
                for key, label in mapping.items():
                    if label.lower() == text.lower():
                        code = key
    if code not in labels:
        raise DomainError(_("Not one of the choices: %(value)s.", value=str(value)[:40]), field=name)
    return code


def _text(name: str, value: Any, limit: int) -> str | None:
    if _blank(value):
        return None
    text = _as_text(value, name)
    if len(text) > limit:
        raise DomainError(_("At most %(max)s characters.", max=limit), field=name)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in text):
        raise DomainError(_("Contains control characters."), field=name)
    return text


def _name(value: Any) -> str:
    if _blank(value):
        raise DomainError(_("Enter the name."), field="name")
    text = _as_text(value, "name")
    if len(text) > NAME_MAX:
        raise DomainError(_("A name has at most %(n)s characters.", n=NAME_MAX), field="name")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise DomainError(_("The name contains control characters."), field="name")
    return text


def _date(value: Any, today: dt.date) -> dt.date:
    if _blank(value):
        return today
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        if not isinstance(value, str):
            raise DomainError(_("Enter a date as YYYY-MM-DD."), field="inquiry_date")
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise DomainError(_("Enter a date as YYYY-MM-DD."), field="inquiry_date") from None
    if value > today:
        raise DomainError(_("The inquiry date cannot be in the future."), field="inquiry_date")
    if value < dt.date(2000, 1, 1):
        raise DomainError(_("The inquiry date is too far in the past."), field="inquiry_date")
    return value


def _id(name: str, value: Any) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise DomainError(_("Enter a record number."), field=name)
    number = int(str(value).strip())
    if not is_id(number):
        raise DomainError(_("Enter a record number."), field=name)
    return number


def _courses(value: Any) -> list[Course]:
    if _blank(value):
        return []
    if not isinstance(value, (list, tuple)):
        raise DomainError(_("Give the courses as a list of course numbers."), field="course_ids")
    ids = []
    for item in value:
        number = _id("course_ids", item)
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
    clean["name"] = run("name", _name, data.get("name"))
    clean["gender"] = run("gender", _choice, "gender", data.get("gender"), required=True)
    for key in ("education", "experience", "work_status"):
        clean[key] = run(key, _choice, key, data.get(key), required=False)
    source = data.get("source")
    if _blank(source) and channel == "api":
        source = 3  # 官方网站: the API serves the school's own website forms
    clean["source"] = run("source", _choice, "source", source, required=True)
    for key, limit in TEXT_LIMITS.items():
        clean[key] = run(key, _text, key, data.get(key), limit)
    clean["phone"] = None if _blank(data.get("phone")) else run("phone", normalise_phone, data.get("phone"))
    clean["email"] = None if _blank(data.get("email")) else run("email", normalise_email, data.get("email"))
    clean["inquiry_date"] = run("inquiry_date", _date, data.get("inquiry_date"), today)
    clean["courses"] = run("course_ids", _courses, data.get("course_ids"))

    referrer_id = run("referred_by_id", _id, "referred_by_id", data.get("referred_by_id"))
    referrer_qq = None
    if not _blank(data.get("referred_by_qq")):
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


# -- the intake itself -------------------------------------------------------------------------
def _lead_url(customer_id: int) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for("sales.lead_detail", customer_id=customer_id, _external=True)
    except Exception:  # noqa: BLE001 - a missing page must not stop the e-mail
        return None


def _queue_assignment_email(customer: Customer, consultant: User, today: dt.date) -> int | None:
    from crm.notifications.services import queue_email

    notification = queue_email(
        kind="lead_assigned",
        recipient_id=consultant.id,
        to_address=consultant.email,
        subject=_l("New lead assigned: %(name)s", name=customer.name),
        template="sales_lead_assigned",
        context={
            "consultant_name": consultant.name, "lead_name": customer.name, "lead_qq": customer.qq,
            "lead_phone": customer.phone, "lead_email": customer.email,
            "lead_source": choices.SOURCE.get(customer.source, ""), "received_on": today.isoformat(),
            "lead_url": _lead_url(customer.id), "follow_up_days": choices.FOLLOW_UP_DAYS,
        },
        dedupe_key=f"lead_assigned:{customer.id}:{consultant.id}",
        locale=consultant.locale,
    )
    return notification.id if notification else None


def create_lead(actor_id: int | None, data: dict[str, Any], *, channel: str, today: dt.date) -> IntakeResult:
    """Validate, deduplicate, allocate and save one lead with its history row; flush, no commit."""
    if channel not in ORIGIN_BY_CHANNEL:
        raise ValueError(f"unknown intake channel {channel!r}")
    clean = validate_lead(data, channel=channel, today=today)
    existing = find_duplicate(clean["qq"], clean["phone"], clean["email"])
    if existing is not None:
        raise DuplicateLead(existing, _duplicate_field(existing, clean["qq"], clean["phone"], clean["email"]))

    [consultant_id] = allocation.allocate_or_pool(1, today=today)
    if consultant_id is not None:
        # If this lead is not saved after all, the consultant keeps their turn (S-6).
        uow.after_rollback(lambda: allocation.return_slots([consultant_id]))
    customer = Customer(
        qq=clean["qq"], name=clean["name"], gender=clean["gender"], education=clean["education"],
        graduation_school=clean["graduation_school"], major=clean["major"], experience=clean["experience"],
        work_status=clean["work_status"], company=clean["company"], salary=clean["salary"],
        source=clean["source"], referred_by_id=clean["referred_by_id"], phone=clean["phone"],
        email=clean["email"], memo=clean["memo"], status=choices.NOT_ENROLLED, consultant_id=consultant_id,
        inquiry_date=clean["inquiry_date"], channel=channel, created_by_id=actor_id,
    )
    customer.courses = clean["courses"]
    if consultant_id is None:
        customer.pool_reason, customer.pool_since = choices.POOL_UNASSIGNED, today
    else:
        customer.received_on = customer.last_follow_up_on = today
    savepoint = db.session.begin_nested()
    try:
        db.session.add(customer)
        db.session.flush()
        if consultant_id is not None:
            db.session.add(CustomerDistribution(
                customer_id=customer.id, consultant_id=consultant_id, started_on=today,
                status=choices.FOLLOWING, origin=ORIGIN_BY_CHANNEL[channel],
            ))
            db.session.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        # Someone saved the same QQ/phone/e-mail between our check and our insert.
        existing = find_duplicate(clean["qq"], clean["phone"], clean["email"])
        if existing is None:
            raise
        raise DuplicateLead(
            existing, _duplicate_field(existing, clean["qq"], clean["phone"], clean["email"])
        ) from None

    audit.record(actor_id, "lead.allocate", "customer", customer.id, consultant_id=consultant_id,
                 channel=channel, pool=consultant_id is None)
    notification_ids: list[int] = []
    if consultant_id is not None:
        consultant = db.session.get(User, consultant_id)
        notification_id = _queue_assignment_email(customer, consultant, today) if consultant else None
        if notification_id is not None:
            notification_ids.append(notification_id)
    db.session.flush()
    return IntakeResult(customer=customer, consultant_id=consultant_id, notification_ids=notification_ids)
