"""The public pool (S-16), grab (S-17) and a director's assignment of pool leads.

The pool is computed from the expiry rule itself, so a lead that expired
today can be grabbed before the nightly reclaim has run. One conditional
UPDATE on `customers` decides who wins a grab; everything else (closing the
previous holder's history row, opening the new one) follows in the same
transaction, and the partial unique index on open history rows backs it up.

Lock order everywhere is users → customers → customer_distributions, the
same as the reclaim job (customers → customer_distributions), so grabs and
the nightly job cannot deadlock each other.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from crm.auth.models import User
from crm.core import audit
from crm.core.errors import Conflict, DomainError, NotFound
from crm.core.listing import ListQuery, Page, page_of, page_statement, records
from crm.extensions import db, on_postgresql
from crm.sales import choices, people
from crm.sales.models import Customer, CustomerDistribution, customer_courses
from crm.sales.pool.expiry import expires_on_sql, expiry_of, in_pool_clause, reason_case

REASON_FILTERS = (choices.POOL_UNASSIGNED, choices.LOST_NO_FOLLOW_UP, choices.LOST_NO_CONVERSION)


# -- listing --------------------------------------------------------------------------------
def pool_reason_expr(today: dt.date) -> sa.ColumnElement[int]:
    """SQL: why a pool lead is in the pool (1 unassigned, 3/4 expired), for display and filtering."""
    return sa.case(
        (Customer.consultant_id.is_(None), sa.func.coalesce(Customer.pool_reason, choices.POOL_UNASSIGNED)),
        else_=reason_case(today),
    )


def reason_filter(today: dt.date, reason: int) -> sa.ColumnElement[bool]:
    """SQL: pool leads that entered the pool for `reason` (written so indexes still apply)."""
    unassigned = Customer.consultant_id.is_(None)
    if reason == choices.POOL_UNASSIGNED:
        return sa.and_(unassigned, sa.or_(Customer.pool_reason.is_(None), Customer.pool_reason == reason))
    held = Customer.consultant_id.is_not(None)
    received_old = Customer.received_on < today - dt.timedelta(days=choices.CONVERSION_DAYS)
    if reason == choices.LOST_NO_CONVERSION:
        expired_now = sa.and_(held, received_old)
    else:
        expired_now = sa.and_(
            held, Customer.last_follow_up_on < today - dt.timedelta(days=choices.FOLLOW_UP_DAYS),
            sa.or_(Customer.received_on.is_(None), sa.not_(received_old)),
        )
    return sa.or_(sa.and_(unassigned, Customer.pool_reason == reason), expired_now)


@dataclass(frozen=True)
class PoolFilters:
    """The pool page's filters (all optional)."""

    source: int | None = None
    course_id: int | None = None
    inquiry_from: dt.date | None = None
    inquiry_to: dt.date | None = None
    reason: int | None = None
    search: str = ""  # name, QQ, phone or e-mail (crm.sales.lead_search)


POOL_COLUMNS = ("id", "name", "gender", "education", "source", "inquiry_date", "pool_since", "received_on",
                "last_follow_up_on", "consultant_id", "last_lost_by_id", "status")


def _pool_part(today: dt.date, filters: PoolFilters, where: list) -> sa.Select:
    """One half of the pool (see pool_page) with the page's filters: rows without contact details."""
    stmt = sa.select(*[getattr(Customer, name) for name in POOL_COLUMNS],
                     pool_reason_expr(today).label("reason")).where(*where)
    if filters.source is not None:
        stmt = stmt.where(Customer.source == filters.source)
    if filters.course_id is not None:
        stmt = stmt.where(
            sa.exists().where(
                customer_courses.c.customer_id == Customer.id, customer_courses.c.course_id == filters.course_id
            )
        )
    if filters.inquiry_from is not None:
        stmt = stmt.where(Customer.inquiry_date >= filters.inquiry_from)
    if filters.inquiry_to is not None:
        stmt = stmt.where(Customer.inquiry_date <= filters.inquiry_to)
    if filters.reason in REASON_FILTERS:
        stmt = stmt.where(reason_filter(today, filters.reason))
    if filters.search:
        from crm.sales.lead_search import search_clause

        stmt = stmt.where(search_clause(filters.search))
    return stmt


def pool_parts(today: dt.date, filters: PoolFilters) -> tuple[sa.Select, sa.Select]:
    """The pool (S-16) as two disjoint halves, each served by its own index on PostgreSQL.

    * unassigned not-enrolled leads: the partial index ix_customers_pool_inquiry, already in the
      page's order;
    * held leads that expired as of `today` but the nightly reclaim has not moved yet (a day's
      worth at most): the partial index ix_customers_held_expires on their expiry day.

    Together they are exactly ``in_pool_clause(today)``; an OR of the two would make
    PostgreSQL read every old pool lead's dates to find the few expired held ones.
    """
    unassigned = _pool_part(today, filters, [Customer.status == choices.NOT_ENROLLED,
                                             Customer.consultant_id.is_(None)])
    expired = _pool_part(today, filters, [Customer.status == choices.NOT_ENROLLED,
                                          Customer.consultant_id.is_not(None),
                                          expires_on_sql() <= today])
    return unassigned, expired


def pool_page(today: dt.date, filters: PoolFilters, query: ListQuery, sorts: dict[str, str]) -> Page:
    """One page of the pool, reading only the rows up to that page's end (one statement).

    The unassigned half is read in order and cut at ``page × per_page + 1`` rows by its index,
    the expired half (a day's worth) is read whole by its own; the union of the two is ordered
    and the page taken from it. `sorts` maps the list's sort keys
    to column names (a unique tiebreaker, id, is added).
    """
    stmt = _pool_statement(today, filters, query.sort, query.descending, query.page, query.per_page,
                           tuple(sorts.items()), on_postgresql())
    return page_of(records(db.session.execute(stmt)), query)


@functools.lru_cache(maxsize=256)
def _pool_statement(today: dt.date, filters: PoolFilters, sort: str, descending: bool, page: int, per_page: int,
                    sorts: tuple, postgresql: bool) -> sa.Select:
    """pool_page's statement, kept for the day: building it costs more Python than the database takes to run it."""
    query, sorts = ListQuery(page=page, per_page=per_page, sort=sort, descending=descending), dict(sorts)
    window = page * per_page + 1
    unassigned, expired = pool_parts(today, filters)
    # The expired half is small and taken whole (read by its expiry index); a LIMIT on it would tempt
    # PostgreSQL to walk the inquiry-date index instead, filtering out every other lead on the way.
    if postgresql:
        # Parenthesised members may carry their own ORDER BY and LIMIT: no subqueries to build.
        head = unassigned.order_by(*_order(None, query, sorts)).limit(window)
        return page_statement(sa.union_all(head, expired).order_by(*_order(None, query, sorts)), query)
    # SQLite allows ORDER BY/LIMIT only on a whole compound select: the unassigned half is wrapped.
    inner = unassigned.subquery()
    unassigned = sa.select(inner).order_by(*_order(inner, query, sorts)).limit(window)
    union = sa.union_all(sa.select(unassigned.subquery()), expired).subquery("pool")
    return page_statement(sa.select(union).order_by(*_order(union, query, sorts)), query)


def _order(table, query: ListQuery, sorts: dict[str, str]) -> list:
    """ORDER BY the sort's column, then id: of `table`'s columns, or by column name (table None)."""
    if table is None:
        column, tiebreak = sa.literal_column(sorts[query.sort]), sa.literal_column("id")
    else:
        column, tiebreak = table.c[sorts[query.sort]], table.c.id
    if query.descending:
        return [column.desc(), tiebreak.desc()]
    return [column.asc(), tiebreak.asc()]


def may_grab(row, consultant_id: int) -> bool:
    """Python twin of grab's loser rule for a pool row: whoever lost the lead last may not take it back."""
    loser = row.consultant_id if row.consultant_id is not None else row.last_lost_by_id
    return loser != consultant_id


def courses_of(customer_ids: list[int]) -> dict[int, list[str]]:
    """Course names of interest for a page of leads, in one query."""
    if not customer_ids:
        return {}
    rows = db.session.execute(_courses_statement(on_postgresql()), {"crm_ids": list(customer_ids)})
    result: dict[int, list[str]] = {}
    for customer_id, name in rows:
        result.setdefault(customer_id, []).append(name)
    return result


@functools.cache
def _courses_statement(postgresql: bool) -> sa.Select:
    """courses_of's statement, built once: the ids as one array parameter on PostgreSQL (`= ANY`), so the
    statement's text is the same for every page and its plan is kept; an expanding IN elsewhere."""
    from sqlalchemy.dialects.postgresql import ARRAY

    from crm.org.models import Course

    if postgresql:
        wanted = customer_courses.c.customer_id == sa.any_(sa.bindparam("crm_ids", type_=ARRAY(sa.Integer)))
    else:
        wanted = customer_courses.c.customer_id.in_(sa.bindparam("crm_ids", expanding=True))
    return (sa.select(customer_courses.c.customer_id, Course.name)
            .join(Course, Course.id == customer_courses.c.course_id).where(wanted).order_by(Course.name))


def since_date(row, today: dt.date) -> dt.date | None:
    """When a pool row entered the pool: the reclaim date, or its expiry date when not yet reclaimed."""
    if row.consultant_id is None:
        return row.pool_since
    return expiry_of(row, today).expires_on


class PoolRow(NamedTuple):
    """One pool row as the page shows it: labels in the page's language, dates, what the viewer may do."""

    id: int
    name: str
    gender: str
    education: str
    source: str
    courses: str
    inquiry_date: dt.date | None
    reason: str
    since: dt.date | None
    may_grab: bool  # False: the viewer lost this lead last and may not take it back (S-17)


def display_rows(rows, today: dt.date, viewer_id: int, courses: dict[int, list[str]]) -> list[PoolRow]:
    """The page's rows with every label and date worked out in one pass (the template only prints them).

    Labels come from choices.labels in the current language; a list of fifty rows looks up five
    labels each, which a template would do through fifty times five helper calls.
    """
    genders, educations, sources, reasons = (choices.labels(table) for table in (
        choices.GENDER, choices.EDUCATION, choices.SOURCE, choices.POOL_REASONS))
    return [PoolRow(
        row.id, row.name, genders.get(row.gender, ""), educations.get(row.education, ""),
        sources.get(row.source, ""), ", ".join(courses.get(row.id, ())), row.inquiry_date,
        reasons.get(row.reason, ""), since_date(row, today), may_grab(row, viewer_id),
    ) for row in rows]


# -- people ---------------------------------------------------------------------------------
def consultants_for_assignment() -> list[User]:
    """Active consultants a director may assign a pool lead to (crm.sales.people)."""
    return people.consultants()


# -- grab and assign ------------------------------------------------------------------------
def daily_grab_limit() -> int:
    """CRM_DAILY_GRAB_LIMIT: grabs per consultant per day, 0 = unlimited."""
    try:
        return max(int(current_app.config.get("CRM_DAILY_GRAB_LIMIT") or 0), 0)
    except (TypeError, ValueError):
        return 0


def grabs_today(consultant_id: int, today: dt.date) -> int:
    """How many leads this consultant grabbed today (history rows with origin grab)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(CustomerDistribution).where(
            CustomerDistribution.consultant_id == consultant_id,
            CustomerDistribution.origin == choices.ORIGIN_GRAB,
            CustomerDistribution.started_on == today,
        )
    ) or 0


def _lock_consultant(consultant_id: int) -> None:
    """Serialise this consultant's grabs until commit: a no-op UPDATE takes their users row lock.

    On PostgreSQL this is a row lock; on SQLite it takes the database write lock. Either
    way a second simultaneous grab by the same consultant waits here and then counts
    the first one's committed history row, so the daily limit cannot be overshot.
    """
    db.session.execute(
        sa.update(User).where(User.id == consultant_id).values(id=User.id),
        execution_options={"synchronize_session": False},
    )


def _take(customer_id: int, consultant_id: int, today: dt.date, *, allow_previous_loser: bool):
    """The one conditional UPDATE that hands a pool lead to `consultant_id`; returns (old holder, reason) or None."""
    customers = Customer.__table__
    conditions = [customers.c.id == customer_id, in_pool_clause(today)]
    if not allow_previous_loser:
        # While the lead is still held (expired, not yet reclaimed) its holder is the
        # one losing it now; otherwise the last recorded loser. Either may not take it back.
        conditions.append(sa.func.coalesce(customers.c.consultant_id, customers.c.last_lost_by_id, -1) != consultant_id)
    else:
        conditions.append(sa.func.coalesce(customers.c.consultant_id, -1) != consultant_id)
    was_held = customers.c.consultant_id.is_not(None)
    stmt = (
        sa.update(customers)
        .where(*conditions)
        .values(
            consultant_id=consultant_id,
            # Right-hand sides see the old row: remember who loses it now and why.
            last_lost_by_id=sa.case((was_held, customers.c.consultant_id), else_=customers.c.last_lost_by_id),
            pool_reason=sa.case((was_held, reason_case(today)), else_=customers.c.pool_reason),
            pool_since=sa.case((was_held, sa.literal(today)), else_=customers.c.pool_since),
            received_on=today,
            last_follow_up_on=today,
        )
        .returning(customers.c.last_lost_by_id, customers.c.pool_reason, customers.c.pool_since)
    )
    return db.session.execute(stmt, execution_options={"synchronize_session": False}).first()


def _close_and_open(customer_id: int, consultant_id: int, today: dt.date, lost_reason: int | None,
                    origin: str, memo: str | None = None) -> CustomerDistribution:
    """Close the previous open holding (if the nightly job has not) and open the new one."""
    reason = lost_reason if lost_reason in (choices.LOST_NO_FOLLOW_UP, choices.LOST_NO_CONVERSION) \
        else choices.LOST_NO_FOLLOW_UP
    db.session.execute(
        sa.update(CustomerDistribution)
        .where(CustomerDistribution.customer_id == customer_id, CustomerDistribution.status == choices.FOLLOWING)
        .values(status=reason, ended_on=today),
        execution_options={"synchronize_session": False},
    )
    row = CustomerDistribution(customer_id=customer_id, consultant_id=consultant_id, started_on=today,
                               status=choices.FOLLOWING, origin=origin, memo=memo)
    db.session.add(row)
    db.session.flush()
    return row


def _refusal(customer_id: int, consultant_id: int, today: dt.date, *, check_loser: bool,
             already_held: str | None = None) -> DomainError:
    """Why a grab/assign matched no row, told in the user's terms."""
    db.session.expire_all()
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        return NotFound(_("This lead does not exist."))
    if customer.status == choices.ENROLLED:
        return Conflict(_("This lead has already enrolled."))
    from crm.sales.pool.expiry import expiry_of

    in_pool = customer.consultant_id is None or expiry_of(customer, today).expired
    if check_loser and in_pool and (customer.consultant_id or customer.last_lost_by_id) == consultant_id:
        return Conflict(_("You lost this lead and cannot take it back until another consultant has held it."))
    if customer.consultant_id == consultant_id:
        return Conflict(already_held or _("This lead is already yours."))
    return Conflict(_("Someone else has already taken this lead."))


def grab(actor_id: int, customer_id: int, today: dt.date) -> CustomerDistribution:
    """Take a pool lead for oneself (S-17); raises Conflict with the reason when refused. Flushes."""
    limit = daily_grab_limit()
    if limit:
        _lock_consultant(actor_id)
        if grabs_today(actor_id, today) >= limit:
            raise Conflict(_("You have reached today's limit of %(n)d grabs.", n=limit))
    taken = _take(customer_id, actor_id, today, allow_previous_loser=False)
    if taken is None:
        raise _refusal(customer_id, actor_id, today, check_loser=True)
    lost_by, reason, _since = taken
    row = _close_and_open(customer_id, actor_id, today, reason, choices.ORIGIN_GRAB)
    audit.record(actor_id, "lead.grab", "customer", customer_id, previous_holder=lost_by, reason=reason)
    db.session.flush()
    return row


def assign(actor_id: int, customer_id: int, consultant_id: int, today: dt.date) -> CustomerDistribution:
    """A director hands a pool lead to a consultant (origin assign). Flushes."""
    if consultant_id not in {u.id for u in consultants_for_assignment()}:
        raise DomainError(_("Choose an active consultant."), field="consultant_id")
    # A director may overrule the "no grabbing back" rule: it only limits grabs.
    taken = _take(customer_id, consultant_id, today, allow_previous_loser=True)
    if taken is None:
        raise _refusal(customer_id, consultant_id, today, check_loser=False,
                       already_held=_("This consultant already holds this lead."))
    lost_by, reason, _since = taken
    row = _close_and_open(customer_id, consultant_id, today, reason, choices.ORIGIN_ASSIGN)
    audit.record(actor_id, "lead.assign", "customer", customer_id, consultant_id=consultant_id,
                 previous_holder=lost_by, reason=reason)
    db.session.flush()
    return row

