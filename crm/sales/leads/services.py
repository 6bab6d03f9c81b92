"""Rules behind the sales pages: who may see a lead, follow-ups, lead edits,
expiry countdowns, lead lists and the allocation table (S-3, S-11 … S-14).

The privacy rule of S-11 lives here and only here: `can_view_lead` for one
lead, `contact_visible` / `masked_contact` for lists. Views never decide it
themselves.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.core import audit
from crm.core.errors import DomainError, Forbidden, NotFound
from crm.core.ids import is_id
from crm.extensions import db
from crm.sales import choices
from crm.sales.lead_search import search_clause
from crm.sales.leads import fields as lead_fields
from crm.sales.leads import intake
from crm.sales.leads.privacy import can_edit_lead, sees_all_leads
from crm.sales.models import ConsultRecord, Customer, CustomerDistribution
from crm.sales.pool import expiry

NOTE_MAX_LENGTH = 2000


HELD_COUNT_CAP = 1000  # My customers counts the leads held up to here ("1000+" beyond): a bounded read


def current_leads_statement(consultant_id: int, today: dt.date, filters: dict[str, Any] | None = None,
                            search: str = "", *, latest_first: bool = False) -> sa.Select:
    """The consultant's not-enrolled, not-yet-expired leads, most urgent first (S-12), as one ordered SELECT.

    Leads that expired already are in the public pool (S-16) even before the nightly job moves
    them, so they are left out. The order (first expired day, then received day, then id; NULL
    dates last, or the reverse with `latest_first`) is computed in SQL by ``expiry.expires_on_sql``,
    which on PostgreSQL is the expression of the index ix_customers_held_expiry: the page reads
    only its own rows from that index, however many leads the consultant holds. `filters`
    (source, course, received_from, received_to) and `search` narrow it.
    """
    expires = expiry.expires_on_sql()
    stmt = sa.select(Customer).where(
        Customer.consultant_id == consultant_id,
        Customer.status == choices.NOT_ENROLLED,
        expiry.not_stale_clause(today),
    )
    stmt = _lead_filters(stmt, filters or {}, search)
    if latest_first:
        order = [expires.desc(), Customer.received_on.desc().nulls_first(), Customer.id.desc()]
    else:
        order = [expires.asc(), Customer.received_on.asc().nulls_last(), Customer.id.asc()]
    return stmt.order_by(*order)


def current_leads_page(consultant_id: int, today: dt.date, query, *, filters: dict[str, Any] | None = None,
                       search: str = "", latest_first: bool = False):
    """One page of My customers: (Page of (lead row, countdown, course names), count of leads held capped at
    HELD_COUNT_CAP).

    Three statements whatever the number of leads held: the page (LIMIT per_page + 1) of the
    columns the page shows, the page's courses and the capped count. Countdowns are computed for
    the page's rows only.
    """
    from crm.core import listing
    from crm.sales.pool.services import courses_of

    # My customers' filters are ints and dates (views.MINE_FILTERS): their sorted pairs are the cache key.
    page_stmt, count_stmt = _current_statements(consultant_id, today, tuple(sorted((filters or {}).items())), search,
                                                latest_first, query.page, query.per_page)
    page = listing.page_of(listing.records(db.session.execute(page_stmt)), query)
    names = courses_of([lead.id for lead in page.items])
    page.items = [(lead, expiry.countdown(lead, today), names.get(lead.id, [])) for lead in page.items]
    count = db.session.scalar(count_stmt) or 0
    return page, (f"{HELD_COUNT_CAP}+" if count > HELD_COUNT_CAP else count)


@functools.lru_cache(maxsize=256)
def _current_statements(consultant_id: int, today: dt.date, filters: tuple, search: str, latest_first: bool,
                        page: int, per_page: int) -> tuple[sa.Select, sa.Select]:
    """current_leads_page's two statements (its page, its capped count), kept for the day: building them takes
    more Python than PostgreSQL takes to run them."""
    from crm.core import listing

    stmt = current_leads_statement(consultant_id, today, dict(filters), search, latest_first=latest_first)
    page_stmt = listing.page_statement(stmt.with_only_columns(*MINE_COLUMNS),
                                       listing.ListQuery(page=page, per_page=per_page))
    capped = stmt.with_only_columns(Customer.id).order_by(None).limit(HELD_COUNT_CAP + 1).subquery()
    return page_stmt, sa.select(sa.func.count()).select_from(capped)


# What My customers shows of a lead and what its countdown needs (crm.sales.pool.expiry.countdown).
MINE_COLUMNS = (Customer.id, Customer.name, Customer.qq, Customer.phone, Customer.status, Customer.consultant_id,
                Customer.received_on, Customer.last_follow_up_on)


def history_statement(consultant_id: int, filters: dict[str, Any] | None = None, search: str = "") -> sa.Select:
    """Every holding of the consultant, newest first, with its lead (S-12 history).

    `filters`: status (of the holding), origin, source, course, started_from/started_to,
    ended_from/ended_to; `search` as on every lead list (name, QQ, phone, e-mail).
    """
    filters = filters or {}
    stmt = (
        sa.select(CustomerDistribution)
        .join(Customer, Customer.id == CustomerDistribution.customer_id)
        .where(CustomerDistribution.consultant_id == consultant_id)
        .options(joinedload(CustomerDistribution.customer))
    )
    if "status" in filters:
        stmt = stmt.where(CustomerDistribution.status == filters["status"])
    if "origin" in filters:
        stmt = stmt.where(CustomerDistribution.origin == filters["origin"])
    for name, column, compare in (
        ("started_from", CustomerDistribution.started_on, "ge"), ("started_to", CustomerDistribution.started_on, "le"),
        ("ended_from", CustomerDistribution.ended_on, "ge"), ("ended_to", CustomerDistribution.ended_on, "le"),
    ):
        if name in filters:
            stmt = stmt.where(column >= filters[name] if compare == "ge" else column <= filters[name])
    stmt = _lead_filters(stmt, {k: v for k, v in filters.items() if k in ("source", "course")}, search)
    return stmt.order_by(CustomerDistribution.started_on.desc(), CustomerDistribution.id.desc())


# -- one lead ------------------------------------------------------------------------------
def get_lead(customer_id: int) -> Customer:
    """The lead with its courses, or NotFound."""
    if not is_id(customer_id):  # URLs can carry any number; the database column cannot
        raise NotFound(_("There is no such lead."))
    customer = db.session.scalars(_statements()["lead"], {"crm_customer_id": customer_id}).unique().one_or_none()
    if customer is None:
        raise NotFound(_("There is no such lead."))
    return customer


def follow_ups(customer_id: int, limit: int = 500) -> list[ConsultRecord]:
    """The lead's follow-up records, newest first (S-13)."""
    return list(db.session.scalars(_statements()["follow_ups"], {"crm_customer_id": customer_id, "crm_limit": limit}))


def lead_history(customer_id: int) -> list[CustomerDistribution]:
    """The lead's holdings, newest first (S-2)."""
    return list(db.session.scalars(_statements()["history"], {"crm_customer_id": customer_id}))


@functools.cache
def _statements() -> dict[str, sa.Select]:
    """The lead page's statements, built once (the lead's id and the limit are bound parameters)."""
    lead_id = sa.bindparam("crm_customer_id")
    return {
        # one statement: the lead, its courses, holder (its name: the page shows nothing else of the
        # account) and referrer (whole: who may open it and see its contact is decided on its fields)
        "lead": sa.select(Customer).where(Customer.id == lead_id).options(
            joinedload(Customer.courses), named_user(Customer.consultant), joinedload(Customer.referred_by)),
        "follow_ups": sa.select(ConsultRecord).where(ConsultRecord.customer_id == lead_id)
        .options(named_user(ConsultRecord.consultant))
        .order_by(ConsultRecord.date.desc(), ConsultRecord.id.desc()).limit(sa.bindparam("crm_limit")),
        "history": sa.select(CustomerDistribution).where(CustomerDistribution.customer_id == lead_id)
        .options(named_user(CustomerDistribution.consultant))
        .order_by(CustomerDistribution.started_on.desc(), CustomerDistribution.id.desc()),
    }


def named_user(relationship):
    """Loader option: the related account joined for its name only (a page that lists who did what).

    Without it each row would bring the whole account and its department (User.department is joined
    by default); any other attribute is still there when read, by its own query.
    """
    return joinedload(relationship).load_only(User.id, User.name).lazyload(User.department)


def add_follow_up(actor: User, customer_id: int, note: str, *, today: dt.date) -> ConsultRecord:
    """Record a follow-up and set the lead's last follow-up date to today (S-13).

    One conditional UPDATE decides: it only touches the lead while the actor
    holds it (or is a director) and it has not expired, so a follow-up racing
    the nightly reclaim or a grab cannot revive a lead someone else now holds.
    """
    note = (note or "").strip()
    if not note:
        raise DomainError(_("Write what was said."), field="note")
    if len(note) > NOTE_MAX_LENGTH:
        raise DomainError(_("A note has at most %(n)s characters.", n=NOTE_MAX_LENGTH), field="note")
    director = sees_all_leads(actor) and actor.has_permission("sales.followup")
    if not actor.has_permission("sales.followup"):
        raise Forbidden(_("You may not record follow-ups."))
    still_held = sa.or_(
        Customer.status != choices.NOT_ENROLLED,
        Customer.consultant_id.is_(None),
        sa.not_(sa.func.coalesce(expiry.stale_clause(today), False)),
    )
    who = sa.true() if director else Customer.consultant_id == actor.id
    result = db.session.execute(
        sa.update(Customer).where(Customer.id == customer_id, who, still_held)
        .values(last_follow_up_on=today).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(_("There is no such lead."))
        if not director and customer.consultant_id != actor.id:
            raise Forbidden(_("Only the consultant who holds this lead can record a follow-up."))
        raise DomainError(_("This lead has expired and is back in the public pool; grab it to follow it up."))
    record = ConsultRecord(customer_id=customer_id, consultant_id=actor.id, date=today, note=note)
    db.session.add(record)
    db.session.flush()
    customer = db.session.get(Customer, customer_id)
    if customer is not None:
        db.session.refresh(customer, ["last_follow_up_on"])
    return record


def find_by_qq_or_id(value: str | None) -> Customer | None:
    """A lead named by QQ (tried first) or by its id; None for an empty value."""
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise DomainError(_("Enter the referrer's QQ number or lead id (digits only)."), field="referred_by")
    found = db.session.scalar(sa.select(Customer).where(Customer.qq == value))
    if found is None and is_id(int(value)):
        found = db.session.get(Customer, int(value))
    if found is None:
        raise DomainError(_("No lead has QQ or id %(value)s.", value=value), field="referred_by")
    return found


EDITABLE_FIELDS = (
    "qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
    "company", "salary", "source", "phone", "email", "memo",
)

UNIQUE_FIELDS = {"qq": _l("QQ"), "phone": _l("phone number"), "email": _l("e-mail address")}


def update_lead(actor: User, customer_id: int, data: dict[str, Any], *, today: dt.date) -> Customer:
    """Edit a lead's profile with the intake's rules; QQ, phone and e-mail stay unique.

    The uniqueness check gives a clear message; the database's unique
    constraints settle a race with a concurrent save.
    """
    customer = get_lead(customer_id)
    if not can_edit_lead(actor, customer):
        raise Forbidden(_("You may not edit this lead."))
    referrer = find_by_qq_or_id(data.get("referred_by"))
    if referrer is not None and referrer.id == customer.id:
        raise DomainError(_("A lead cannot refer itself."), field="referred_by")
    fields = {key: value for key, value in data.items() if key in intake.FIELDS}
    fields.update(inquiry_date=customer.inquiry_date, referred_by_id=referrer.id if referrer else None)
    clean = lead_fields.validate_lead(fields, channel="form", today=today)
    for field in UNIQUE_FIELDS:
        value = clean[field]
        if value is None:
            continue
        other = db.session.scalar(
            sa.select(Customer.id).where(getattr(Customer, field) == value, Customer.id != customer.id))
        if other is not None:
            raise DomainError(_("Another lead already has this %(what)s.", what=UNIQUE_FIELDS[field]), field=field)
    before = {f: getattr(customer, f) for f in EDITABLE_FIELDS}
    before_courses = sorted(c.id for c in customer.courses)
    for field in EDITABLE_FIELDS:
        setattr(customer, field, clean[field])
    customer.referred_by_id = clean["referred_by_id"]
    customer.courses = clean["courses"]
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as error:
        # Someone saved the same QQ/phone/e-mail between our check and this flush.
        text = str(error.orig)
        for field in UNIQUE_FIELDS:
            if f"uq_customers_{field}" in text or f"customers.{field}" in text:
                raise DomainError(_("Another lead already has this %(what)s.", what=UNIQUE_FIELDS[field]),
                                  field=field) from None
        raise
    changed = {f: [before[f], getattr(customer, f)] for f in EDITABLE_FIELDS if before[f] != getattr(customer, f)}
    after_courses = sorted(c.id for c in customer.courses)
    if after_courses != before_courses:
        changed["course_ids"] = [before_courses, after_courses]
    audit.record(actor.id, "lead.edit", "customer", customer.id, changed=changed)
    return customer


# -- all leads (director) ----------------------------------------------------------------------
LEAD_SORTS = {
    "id": Customer.id,
    "name": Customer.name,
    "inquiry": Customer.inquiry_date,
    "received": Customer.received_on,
    "follow_up": Customer.last_follow_up_on,
}


def filtered_leads(filters: dict[str, Any], search: str) -> sa.Select:
    """The all-leads query with the list's filters and search applied (no ordering)."""
    stmt = sa.select(Customer)
    if "status" in filters:
        stmt = stmt.where(Customer.status == filters["status"])
    if "consultant" in filters:
        stmt = stmt.where(Customer.consultant_id == filters["consultant"])
    if filters.get("unassigned"):
        stmt = stmt.where(Customer.consultant_id.is_(None))
    if "inquiry_from" in filters:
        stmt = stmt.where(Customer.inquiry_date >= filters["inquiry_from"])
    if "inquiry_to" in filters:
        stmt = stmt.where(Customer.inquiry_date <= filters["inquiry_to"])
    return _lead_filters(stmt, filters, search)


def _lead_filters(stmt: sa.Select, filters: dict[str, Any], search: str) -> sa.Select:
    """The filters every lead list shares (source, course, received dates) and the search box."""
    from crm.sales.models import customer_courses

    if "source" in filters:
        stmt = stmt.where(Customer.source == filters["source"])
    if "course" in filters:
        stmt = stmt.where(Customer.id.in_(
            sa.select(customer_courses.c.customer_id).where(customer_courses.c.course_id == filters["course"])
        ))
    if "received_from" in filters:
        stmt = stmt.where(Customer.received_on >= filters["received_from"])
    if "received_to" in filters:
        stmt = stmt.where(Customer.received_on <= filters["received_to"])
    if search:
        stmt = stmt.where(search_clause(search))
    return stmt


def export_rows(stmt: sa.Select):
    """Rows for the lead export: one tuple per lead in the list's order."""
    from crm.core.listing import stream_rows

    consultant_names = dict(db.session.execute(sa.select(User.id, User.name)).all())
    for (customer,) in stream_rows(stmt):
        yield (
            customer.id, customer.name, choices.label(choices.GENDER, customer.gender), customer.qq,
            customer.phone or "", customer.email or "", choices.label(choices.SOURCE, customer.source),
            choices.label(choices.STATUS, customer.status), consultant_names.get(customer.consultant_id, ""),
            customer.inquiry_date, customer.received_on, customer.last_follow_up_on,
            choices.label(choices.EDUCATION, customer.education), customer.memo or "",
        )


# What the all-leads list shows of a lead.
LIST_COLUMNS = (Customer.id, Customer.name, Customer.qq, Customer.phone, Customer.source, Customer.status,
                Customer.consultant_id, Customer.inquiry_date, Customer.received_on, Customer.last_follow_up_on)


def consultant_names(user_ids: set[int]) -> dict[int, str]:
    """User id → display name for a page's consultants (one query)."""
    if not user_ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(user_ids))).all())


