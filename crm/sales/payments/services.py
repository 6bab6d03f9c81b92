"""Payments, conversion to student, class transfer / drop-out / refund, student records (S-4, S-18, S-19).

Money is whole yuan (int). The first deposit or tuition payment of a
not-enrolled lead converts it in the caller's one transaction: a conditional
UPDATE flips the status (so two simultaneous first payments convert once),
then the student account, the Student row, the enrolment and the closing of
the open history row follow. Nothing here commits.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.auth.models import User
from crm.core import audit
from crm.core.errors import Conflict, DomainError, Forbidden, NotFound
from crm.core.ids import MAX_ID
from crm.extensions import db
from crm.org.models import ClassList
from crm.sales import choices
from crm.sales.leads.privacy import holds_or_sees_all, sees_all_leads
from crm.sales.models import Customer, CustomerDistribution, PaymentRecord
from crm.sales.pool.expiry import expiry_of
from crm.students import services as students
from crm.students.models import Student

MAX_AMOUNT = 10_000_000  # ten million yuan: far above any tuition, well inside a 32-bit column
MAX_NOTE = 2000
EARLIEST_DATE = dt.date(2000, 1, 1)
INTEGER = re.compile(r"^[+-]?\d+$")
MONEY_TYPES = (choices.PAY_DEPOSIT, choices.PAY_TUITION)
STUDENT_TEXT_LIMITS = {"emergency_contact": 64, "company": 128, "location": 64, "position": 64,
                       "welfare": 255, "memo": 255}


@dataclass
class PaymentResult:
    """A recorded payment and, when it converted the lead, the new student and their one-time password."""

    payment: PaymentRecord
    converted: bool = False
    student: Student | None = None
    username: str | None = None
    initial_password: str | None = None
    notification_ids: list[int] = field(default_factory=list)


# -- parsing --------------------------------------------------------------------------------
def parse_amount(raw: Any, field_name: str, *, required: bool) -> int | None:
    """Whole yuan from user input: refuses decimals, negatives, non-numbers and absurd sums."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise DomainError(_("Enter an amount in whole yuan."), field=field_name)
        return None
    if isinstance(raw, bool):
        raise DomainError(_("Enter an amount in whole yuan."), field=field_name)
    if isinstance(raw, float):
        raise DomainError(_("Amounts are whole yuan: no decimals."), field=field_name)
    text = str(raw).strip().replace(",", "").replace("，", "")
    if not INTEGER.match(text):
        if re.match(r"^[+-]?\d*[.]\d+$", text):
            raise DomainError(_("Amounts are whole yuan: no decimals."), field=field_name)
        raise DomainError(_("Enter an amount in whole yuan, digits only."), field=field_name)
    if len(text) > 12:
        raise DomainError(_("The amount may be at most %(n)s yuan.", n=f"{MAX_AMOUNT:,}"), field=field_name)
    value = int(text)
    if value < 0:
        raise DomainError(_("The amount cannot be negative."), field=field_name)
    if value > MAX_AMOUNT:
        raise DomainError(_("The amount may be at most %(n)s yuan.", n=f"{MAX_AMOUNT:,}"), field=field_name)
    return value


def parse_date(raw: Any, field_name: str, today: dt.date) -> dt.date:
    """A payment date: ISO format, not in the future, not before 2000."""
    if isinstance(raw, dt.datetime):
        raw = raw.date()
    if isinstance(raw, dt.date):
        value = raw
    else:
        try:
            value = dt.date.fromisoformat(str(raw or "").strip())
        except ValueError:
            raise DomainError(_("Enter a date as YYYY-MM-DD."), field=field_name) from None
    if value > today:
        raise DomainError(_("The date cannot be in the future."), field=field_name)
    if value < EARLIEST_DATE:
        raise DomainError(_("The date is too far in the past."), field=field_name)
    return value


def _parse_int(raw: Any, field_name: str, message: str) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise DomainError(message, field=field_name) from None
    if abs(number) > MAX_ID:  # beyond any id or amount the database can hold
        raise DomainError(message, field=field_name)
    return number


# -- access ---------------------------------------------------------------------------------
def ensure_may_record(user: User, customer: Customer) -> None:
    """Only the lead's holder, or a director, may record its payments (S-11)."""
    if not user.has_permission("sales.payment.create"):
        raise Forbidden(_("You may not record payments."))
    if not holds_or_sees_all(user, customer):
        raise Forbidden(_("Only the consultant holding this lead (or a director) may record its payments."))


def ensure_may_view(user: User, customer: Customer) -> None:
    """Payments and the student record are visible to the holder and directors (S-11)."""
    if not holds_or_sees_all(user, customer):
        raise Forbidden(_("This lead is held by another consultant."))


def _load(actor_id: int, customer_id: int) -> tuple[User, Customer]:
    actor = db.session.get(User, actor_id)
    customer = db.session.get(Customer, customer_id)
    if actor is None:
        raise Forbidden(_("Unknown user."))
    if customer is None:
        raise NotFound(_("This lead does not exist."))
    return actor, customer


# -- student account ------------------------------------------------------------------------
def free_username(qq: str) -> str:
    """The lead's QQ as user name, or QQ-2, QQ-3 … when taken (one query)."""
    taken = set(db.session.scalars(
        sa.select(sa.func.lower(User.username)).where(
            sa.or_(sa.func.lower(User.username) == qq.lower(), User.username.like(f"{qq}-%"))
        )
    ))
    if qq.lower() not in taken:
        return qq
    n = 2
    while f"{qq}-{n}".lower() in taken:
        n += 1
    return f"{qq}-{n}"


def create_student_account(actor_id: int, customer: Customer) -> tuple[User, str]:
    """A student login (role student, change forced at first sign-in); the unique index settles name races."""
    from crm.auth.services import create_user

    for _attempt in range(5):
        username = free_username(customer.qq)
        try:
            return create_user(
                actor_id, username=username, name=customer.name, email=customer.email,
                kind=User.KIND_STUDENT, role_names=["student"], must_change_password=True, roles_by_rule=True,
            )
        except Conflict as error:
            if error.field != "username":
                raise
    raise Conflict(_("Could not find a free user name for this student; try again."))


def _close_as_converted(customer_id: int, on: dt.date) -> int:
    """Close the lead's open history row as converted; returns rows closed (0 or 1)."""
    cd = CustomerDistribution
    result = db.session.execute(
        sa.update(cd)
        .where(cd.customer_id == customer_id, cd.status == choices.FOLLOWING)
        # Never end a holding before it started, even for a back-dated payment.
        .values(status=choices.CONVERTED,
                ended_on=sa.case((cd.started_on > on, cd.started_on), else_=sa.literal(on))),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount


def _convert(actor_id: int, customer: Customer, class_id: int, on: dt.date) -> tuple[Student, User, str] | None:
    """Flip the lead to enrolled (conditional UPDATE) and create its student; None when already converted."""
    holder = customer.consultant_id
    flipped = db.session.execute(
        sa.update(Customer)
        .where(
            Customer.id == customer.id,
            Customer.status == choices.NOT_ENROLLED,
            # Still held by whoever held it when the form was read: a grab in between must not
            # let this payment close the new holder's history row (S-2).
            Customer.consultant_id.is_(None) if holder is None else Customer.consultant_id == holder,
        )
        .values(status=choices.ENROLLED),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not flipped:
        db.session.refresh(customer, ["status", "consultant_id"])
        if customer.status == choices.ENROLLED:
            return None
        raise Conflict(_("This lead changed hands while the payment was being entered; nothing was saved."))
    db.session.expire(customer, ["status"])
    user, password = create_student_account(actor_id, customer)
    student = Student(customer_id=customer.id, user_id=user.id)
    db.session.add(student)
    db.session.flush()
    students.enrol(student, class_id, on)
    closed = _close_as_converted(customer.id, on)
    audit.record(actor_id, "lead.convert", "customer", customer.id, student_id=student.id,
                 username=user.username, class_id=class_id, history_closed=closed)
    return student, user, password


# -- the service ----------------------------------------------------------------------------
def invalid_fields(problems: dict[str, str]) -> DomainError:
    """One error carrying a message per field (crm.core.forms.show_domain_error places them all)."""
    first_field, first_message = next(iter(problems.items()))
    error = DomainError(first_message, field=first_field)
    error.errors = dict(problems)
    return error


def record_payment(actor_id: int, customer_id: int, data: dict, *, today: dt.date) -> PaymentResult:
    """Validate and record a payment; converts, transfers, drops out or refunds as its type says. Flushes."""
    actor, customer = _load(actor_id, customer_id)
    ensure_may_record(actor, customer)
    problems: dict[str, str] = {}  # every field's message at once, not one per try

    def check(parse, *args, **kwargs):
        try:
            return parse(*args, **kwargs)
        except DomainError as error:
            if error.field is None:
                raise
            problems.setdefault(error.field, error.message)
            return None

    pay_type = check(_parse_int, data.get("pay_type"), "pay_type", _("Choose a payment type."))
    if pay_type not in choices.PAY_TYPE:
        problems.setdefault("pay_type", _("Choose a payment type."))
    paid = check(parse_amount, data.get("paid_amount"), "paid_amount", required=True)
    deal = check(parse_amount, data.get("deal_amount"), "deal_amount", required=False)
    quoted = check(parse_amount, data.get("quoted_amount"), "quoted_amount", required=False)
    on = check(parse_date, data.get("date"), "date", today)
    note = (data.get("note") or "").strip() or None
    if note and len(note) > MAX_NOTE:
        problems["note"] = _("The note may have at most %(n)d characters.", n=MAX_NOTE)
    class_id = check(_parse_int, data.get("class_id"), "class_id", _("Choose a class."))
    klass = db.session.get(ClassList, class_id) if class_id is not None else None
    if class_id is not None and klass is None:
        problems.setdefault("class_id", _("Choose a class."))
    if pay_type in MONEY_TYPES:
        if paid == 0:
            problems.setdefault("paid_amount", _("A deposit or tuition payment must be more than 0 yuan."))
        if customer.status == choices.NOT_ENROLLED and klass is None:
            problems.setdefault("class_id", _("Choose the class the student joins."))
    if problems:
        raise invalid_fields(problems)

    student = students.student_of(customer.id)
    result_extra: dict[str, Any] = {}
    if pay_type in MONEY_TYPES:
        if paid == 0:
            raise DomainError(_("A deposit or tuition payment must be more than 0 yuan."), field="paid_amount")
        if customer.status == choices.NOT_ENROLLED:
            # The holder may record a payment made while they held the lead; once it expired
            # (S-14) it belongs to the pool and must be grabbed first.
            if not sees_all_leads(actor) and expiry_of(customer, on).expired:
                raise DomainError(_("This lead had expired by the payment date and is back in the public pool; "
                                    "grab it before recording a payment."))
            if klass is None:
                raise DomainError(_("Choose the class the student joins."), field="class_id")
            converted = _convert(actor_id, customer, klass.id, on)
            if converted is not None:
                student, user, password = converted
                result_extra = {"converted": True, "student": student, "username": user.username,
                                "initial_password": password}
    else:
        if customer.status != choices.ENROLLED or student is None:
            raise DomainError(_("Transfers, drop-outs and refunds are for enrolled students only."), field="pay_type")
        if pay_type == choices.PAY_TRANSFER:
            if klass is None:
                raise DomainError(_("Choose the class the student moves to."), field="class_id")
            current = students.current_enrollments(student.id)
            if any(e.class_id == klass.id for e in current):
                raise DomainError(_("The student is already in this class."), field="class_id")
            if not current:
                raise DomainError(_("The student is not in any class at the moment."), field="pay_type")
            for enrollment in current:
                students.leave(enrollment, on, students.END_TRANSFER)
            db.session.flush()
            students.enrol(student, klass.id, on)
        elif pay_type == choices.PAY_DROP_OUT:
            current = students.current_enrollments(student.id)
            if klass is not None:
                current = [e for e in current if e.class_id == klass.id]
            if not current:
                raise DomainError(_("The student is not in that class at the moment."), field="class_id")
            for enrollment in current:
                students.leave(enrollment, on, students.END_DROP_OUT)
        elif pay_type == choices.PAY_REFUND and paid == 0:
            raise DomainError(_("Enter the amount refunded."), field="paid_amount")

    payment = PaymentRecord(
        customer_id=customer.id, class_id=klass.id if klass else None, pay_type=pay_type, paid_amount=paid,
        deal_amount=deal, quoted_amount=quoted, note=note, date=on,
        consultant_id=customer.consultant_id or actor_id, created_by_id=actor_id,
    )
    db.session.add(payment)
    db.session.flush()
    audit.record(actor_id, "payment.create", "payment", payment.id, customer_id=customer.id,
                 pay_type=pay_type, paid_amount=paid, class_id=payment.class_id)
    result = PaymentResult(payment=payment, **result_extra)
    if result.converted and customer.email:
        result.notification_ids = _queue_account_email(customer, result)
    db.session.flush()
    return result


def _queue_account_email(customer: Customer, result: PaymentResult) -> list[int]:
    """E-mail the new student their user name and initial password (sent after commit)."""
    from crm.notifications.services import queue_email

    note = queue_email(
        kind="student_account", recipient_id=result.student.user_id, to_address=customer.email,
        subject=_l("Your student account"), template="sales_student_account",
        context={"name": customer.name, "username": result.username, "password": result.initial_password},
        dedupe_key=f"student-account:{result.student.id}",
    )
    return [note.id] if note is not None else []


def payments_of(customer_id: int) -> list[PaymentRecord]:
    """A lead's payments, newest first (class and consultant loaded in the same query)."""
    return list(db.session.scalars(_payments_statement(), {"crm_customer_id": customer_id}))


@functools.cache
def _payments_statement() -> sa.Select:
    """payments_of's statement, built once (the lead's id is a bound parameter)."""
    from sqlalchemy.orm import joinedload

    from crm.sales.leads.services import named_user

    return (sa.select(PaymentRecord).where(PaymentRecord.customer_id == sa.bindparam("crm_customer_id"))
            .options(joinedload(PaymentRecord.class_list), named_user(PaymentRecord.consultant))
            .order_by(PaymentRecord.date.desc(), PaymentRecord.id.desc()))


def net_paid(payments: list[PaymentRecord]) -> int:
    """Deposits and tuition minus refunds (the dashboard's revenue rule)."""
    total = sum(p.paid_amount for p in payments if p.pay_type in MONEY_TYPES)
    return total - sum(p.paid_amount for p in payments if p.pay_type == choices.PAY_REFUND)


# -- student record -------------------------------------------------------------------------
def update_student(actor_id: int, student_id: int, data: dict) -> Student:
    """Edit emergency contact and placement fields (holder or director). Flushes."""
    student = db.session.get(Student, student_id)
    if student is None:
        raise NotFound(_("This student does not exist."))
    actor = db.session.get(User, actor_id)
    ensure_may_record(actor, student.customer)
    for name, limit in STUDENT_TEXT_LIMITS.items():
        value = (data.get(name) or "").strip() or None
        if value is not None and len(value) > limit:
            raise DomainError(_("This value may have at most %(n)d characters.", n=limit), field=name)
        setattr(student, name, value)
    student.salary = parse_amount(data.get("salary"), "salary", required=False)
    raw_date = data.get("placement_date")
    if raw_date in (None, "") or (isinstance(raw_date, str) and not raw_date.strip()):
        student.placement_date = None
    elif isinstance(raw_date, dt.date):
        student.placement_date = raw_date
    else:
        try:
            student.placement_date = dt.date.fromisoformat(str(raw_date).strip())
        except ValueError:
            raise DomainError(_("Enter a date as YYYY-MM-DD."), field="placement_date") from None
    audit.record(actor_id, "student.update", "student", student.id)
    db.session.flush()
    return student
