"""Single-lead intake (S-8, S-10): validate, deduplicate, allocate, save, queue the e-mail.

`create_lead` is shared by the entry form, the web-to-lead API and anything
else that takes one lead at a time. It flushes and never commits; the caller
commits once (crm.core.uow): the e-mail is sent after that commit, and the
allocation slot goes back to the head of the queue if the transaction fails.

Duplicates are refused on QQ, phone or e-mail (normalised): the database's
unique constraints decide, through the lead's INSERT … ON CONFLICT DO NOTHING,
so a concurrent duplicate surfaces as `DuplicateLead` like any other, never as
a server error.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from crm.auth.models import User
from crm.core import audit, uow
from crm.core.errors import Conflict
from crm.core.links import public_url
from crm.extensions import conflict_insert, db
from crm.sales import allocation, choices
from crm.sales.leads.fields import validate_lead
from crm.sales.models import Customer, CustomerDistribution

# Every key create_lead understands; the API refuses anything else.
FIELDS = (
    "qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
    "company", "salary", "source", "referred_by_id", "referred_by_qq", "course_ids", "phone", "email",
    "memo", "inquiry_date",
)
ORIGIN_BY_CHANNEL = {"form": choices.ORIGIN_AUTO, "api": choices.ORIGIN_API, "import": choices.ORIGIN_IMPORT}



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
    # True when the lead went to the pool because the allocation queue (Redis) did not answer.
    allocation_unavailable: bool = False
    # The consultant as read for the e-mail: a row of id, name, email and locale (_holding_statement).
    consultant: sa.Row | None = None


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


# -- the intake itself -------------------------------------------------------------------------
@functools.cache
def _holding_statement() -> sa.Insert:
    """The open holding's INSERT (S-2), RETURNING what an assignment e-mail needs of its consultant (id,
    name, email, locale) from `users`: one statement instead of an INSERT and a SELECT, and one narrow row,
    not an account with its department."""
    users, held = User.__table__, CustomerDistribution.__table__

    def of_consultant(column: sa.Column) -> sa.ScalarSelect:  # (a subquery in RETURNING is not correlated)
        return sa.select(column).where(users.c.id == sa.bindparam("crm_consultant_id")).scalar_subquery()

    return sa.insert(held).returning(held.c.consultant_id.label("id"), of_consultant(users.c.name).label("name"),
                                     of_consultant(users.c.email).label("email"),
                                     of_consultant(users.c.locale).label("locale"))


def _queue_assignment_email(customer: Customer, consultant: sa.Row, today: dt.date) -> int | None:
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
            # The code: the e-mail's template labels it in the recipient's language (choice_label).
            "lead_source": customer.source, "received_on": today.isoformat(),
            # E-mail links always use CRM_PUBLIC_URL, whether a page, the API or an import queued them.
            "lead_url": public_url("sales.lead_detail", customer_id=customer.id),
            "follow_up_days": choices.FOLLOW_UP_DAYS,
        },
        dedupe_key=f"lead_assigned:{customer.id}:{consultant.id}",
        locale=consultant.locale,
    )
    return notification.id if notification else None


def create_lead(actor_id: int | None, data: dict[str, Any], *, channel: str, today: dt.date) -> IntakeResult:
    """Validate, allocate and save one lead with its history row; flush, no commit.

    The lead is one INSERT … ON CONFLICT DO NOTHING RETURNING the row: the unique indexes on QQ,
    phone and e-mail decide what is a duplicate, a concurrent twin's included, with no check
    before it and no savepoint. When it inserts nothing, the lead it met is read, the allocation
    slot handed back and `DuplicateLead` raised.
    """
    if channel not in ORIGIN_BY_CHANNEL:
        raise ValueError(f"unknown intake channel {channel!r}")
    clean = validate_lead(data, channel=channel, today=today)

    [consultant_id], queue_answered = allocation.allocate_noting_outage(1, today=today)
    values = {name: clean[name] for name in PROFILE_COLUMNS}
    values.update(status=choices.NOT_ENROLLED, consultant_id=consultant_id, channel=channel,
                  created_by_id=actor_id)
    if consultant_id is None:
        values.update(pool_reason=choices.POOL_UNASSIGNED, pool_since=today)
    else:
        values.update(received_on=today, last_follow_up_on=today)
    try:
        customer = _insert_unless_duplicate(values, clean)
    except BaseException:
        allocation.return_slots([consultant_id])  # not saved (a duplicate, a failed INSERT): the turn goes back
        raise
    if clean["courses"]:
        set_committed_value(customer, "courses", [])  # a new row has none: no SELECT of the old collection
        customer.courses = clean["courses"]
    consultant = None  # what the assignment e-mail needs of the consultant (None: the lead went to the pool)
    if consultant_id is not None:
        # If the transaction does not commit after all, the consultant keeps their turn (S-6).
        uow.after_rollback(lambda: allocation.return_slots([consultant_id]))
        consultant = db.session.execute(_holding_statement(), {  # the open holding (S-2), and its consultant
            "customer_id": customer.id, "consultant_id": consultant_id, "started_on": today,
            "status": choices.FOLLOWING, "origin": ORIGIN_BY_CHANNEL[channel], "crm_consultant_id": consultant_id,
        }).one()

    audit.record(actor_id, "lead.allocate", "customer", customer.id, consultant_id=consultant_id,
                 channel=channel, pool=consultant_id is None)
    notification_ids: list[int] = []
    if consultant is not None:
        notification_id = _queue_assignment_email(customer, consultant, today)
        if notification_id is not None:
            notification_ids.append(notification_id)
    db.session.flush()
    return IntakeResult(customer=customer, consultant_id=consultant_id, notification_ids=notification_ids,
                        allocation_unavailable=not queue_answered, consultant=consultant)


# The lead's own fields as validate_lead returns them (the rest of the row is set by create_lead).
PROFILE_COLUMNS = (
    "qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status", "company",
    "salary", "source", "referred_by_id", "phone", "email", "memo", "inquiry_date",
)
INSERT_ATTEMPTS = 3


def _insert_unless_duplicate(values: dict[str, Any], clean: dict[str, Any]) -> Customer:
    """INSERT the lead, or raise DuplicateLead naming the lead whose QQ, phone or e-mail it met.

    A lead met and deleted again before it could be read (the unique index saw it, the next
    statement does not) is no duplicate: the INSERT is tried again.
    """
    statement = _insert_statement(db.session.get_bind().dialect.name)
    for _attempt in range(INSERT_ATTEMPTS):
        customer = db.session.scalar(statement, values)
        if customer is not None:
            return customer
        existing = find_duplicate(clean["qq"], clean["phone"], clean["email"])
        if existing is not None:
            raise DuplicateLead(existing, _duplicate_field(existing, clean["qq"], clean["phone"], clean["email"]))
    raise Conflict(_("The lead could not be saved while others with the same details were changing. Try again."))


@functools.cache
def _insert_statement(dialect: str) -> sa.Insert:
    """The lead's INSERT … ON CONFLICT DO NOTHING RETURNING the row as a Customer, built once per dialect
    (its values are the execution's parameters)."""
    return conflict_insert(Customer).on_conflict_do_nothing().returning(Customer)
