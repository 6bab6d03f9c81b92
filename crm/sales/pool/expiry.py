"""The expiry rule (S-14), in one place for reclaim, the pool page and grab.

A not-enrolled lead held by a consultant expires when
``last_follow_up_on < today - 3 days`` (reason 3) or
``received_on < today - 15 days`` (reason 4, which wins when both hold).
Enrolled and unassigned leads never expire. A NULL date never triggers its
half of the rule (SQL comparisons with NULL are false, and the Python twin
below behaves the same); every path that hands a lead to a consultant
(intake, import, grab, assign) sets both dates.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from crm.sales import choices
from crm.sales.models import Customer

FOLLOW_UP_DAYS = choices.FOLLOW_UP_DAYS
CONVERSION_DAYS = choices.CONVERSION_DAYS


class Expiry(NamedTuple):
    """Whether a lead has expired, why, and the first day it is (or will be) expired."""

    expired: bool
    reason: int | None
    expires_on: dt.date | None  # None: the lead never expires (enrolled or unassigned)


def follow_up_cutoff(today: dt.date) -> dt.date:
    """A last follow-up strictly before this date has expired (reason 3)."""
    return today - dt.timedelta(days=FOLLOW_UP_DAYS)


def received_cutoff(today: dt.date) -> dt.date:
    """A receipt strictly before this date has expired (reason 4)."""
    return today - dt.timedelta(days=CONVERSION_DAYS)


def stale_clause(today: dt.date, table=None) -> sa.ColumnElement[bool]:
    """The date half of the rule only (no status/holder test): for composing indexed queries."""
    table = Customer.__table__ if table is None else table
    return sa.or_(
        table.c.last_follow_up_on < follow_up_cutoff(today),
        table.c.received_on < received_cutoff(today),
    )


class ExpiresOn(FunctionElement):
    """SQL: a held lead's first expired day, min(last_follow_up_on + 4, received_on + 16), NULL dates
    ignored; "never" (the largest date) when both are NULL.

    On PostgreSQL it is written exactly as in the indexes ix_customers_held_expiry and
    ix_customers_held_expires (migration issue15_0001), literals and all, so My customers reads a
    consultant's leads in expiry order from the index and stops at the page's end, and the pool
    finds the expired held leads without reading the others. SQLite gets the same day from date().
    Never NULL, so "not expired" is one range condition (`not_stale_clause`).
    """

    inherit_cache = True  # a FunctionElement without arguments: statements using it stay in the SQL cache
    type = sa.Date()
    name = "crm_expires_on"


@compiles(ExpiresOn, "postgresql")
def _expires_on_postgresql(element, compiler, **kw):
    return (f"COALESCE(LEAST(customers.last_follow_up_on + {FOLLOW_UP_DAYS + 1}, "
            f"customers.received_on + {CONVERSION_DAYS + 1}), 'infinity'::date)")


@compiles(ExpiresOn)
def _expires_on_default(element, compiler, **kw):
    follow_up = f"date(customers.last_follow_up_on, '+{FOLLOW_UP_DAYS + 1} days')"
    received = f"date(customers.received_on, '+{CONVERSION_DAYS + 1} days')"
    return (f"(CASE WHEN customers.last_follow_up_on IS NULL THEN coalesce({received}, '9999-12-31') "
            f"WHEN customers.received_on IS NULL THEN {follow_up} ELSE min({follow_up}, {received}) END)")


def expires_on_sql() -> ExpiresOn:
    """The SQL twin of `expiry_of(...).expires_on` for held, not-enrolled leads (see ExpiresOn)."""
    return ExpiresOn()


def not_stale_clause(today: dt.date) -> sa.ColumnElement[bool]:
    """SQL: not expired as of `today` by the dates (NOT coalesce(stale_clause, false)), as one index range."""
    return expires_on_sql() > today


def expired_clause(today: dt.date, table=None) -> sa.ColumnElement[bool]:
    """SQL: the lead is held, not enrolled, and expired as of `today` (S-14)."""
    table = Customer.__table__ if table is None else table
    return sa.and_(
        table.c.status == choices.NOT_ENROLLED,
        table.c.consultant_id.is_not(None),
        stale_clause(today, table),
    )


def reason_case(today: dt.date, table=None) -> sa.ColumnElement[int]:
    """SQL: the expiry reason of a lead already known to be expired (4 wins over 3)."""
    table = Customer.__table__ if table is None else table
    return sa.case(
        (table.c.received_on < received_cutoff(today), sa.literal(choices.LOST_NO_CONVERSION)),
        else_=sa.literal(choices.LOST_NO_FOLLOW_UP),
    )


def in_pool_clause(today: dt.date, table=None) -> sa.ColumnElement[bool]:
    """SQL: the lead is in the public pool as of `today`: not enrolled and unassigned or expired (S-16)."""
    table = Customer.__table__ if table is None else table
    return sa.and_(
        table.c.status == choices.NOT_ENROLLED,
        sa.or_(table.c.consultant_id.is_(None), stale_clause(today, table)),
    )


def expiry_dates(received_on: dt.date | None, last_follow_up_on: dt.date | None) -> dict[int, dt.date]:
    """The first expired day for each reason whose date is known."""
    dates = {}
    if last_follow_up_on is not None:
        dates[choices.LOST_NO_FOLLOW_UP] = last_follow_up_on + dt.timedelta(days=FOLLOW_UP_DAYS + 1)
    if received_on is not None:
        dates[choices.LOST_NO_CONVERSION] = received_on + dt.timedelta(days=CONVERSION_DAYS + 1)
    return dates


def expiry_of(customer, today: dt.date) -> Expiry:
    """Python twin of `expired_clause` for one lead (anything with the Customer attributes)."""
    if customer.status != choices.NOT_ENROLLED or customer.consultant_id is None:
        return Expiry(False, None, None)
    dates = expiry_dates(customer.received_on, customer.last_follow_up_on)
    if not dates:
        return Expiry(False, None, None)
    expires_on = min(dates.values())
    if today < expires_on:
        return Expiry(False, None, expires_on)
    reason = choices.LOST_NO_CONVERSION if today >= dates.get(choices.LOST_NO_CONVERSION, dt.date.max) \
        else choices.LOST_NO_FOLLOW_UP
    return Expiry(True, reason, expires_on)


@dataclass(frozen=True)
class Countdown:
    """When a held lead returns to the pool unless someone acts ."""

    expires_on: dt.date | None  # first day it is expired; None when it never expires
    days_left: int | None  # expires_on − today: 1 means "expires tomorrow, follow up today"
    reason: int | None  # the rule that ends it first (choices.LOST_NO_FOLLOW_UP / LOST_NO_CONVERSION)

    @property
    def expired(self) -> bool:
        """True from the expiry day on."""
        return self.days_left is not None and self.days_left <= 0

    @property
    def last_day(self) -> dt.date | None:
        """The last day the lead is still held."""
        return self.expires_on - dt.timedelta(days=1) if self.expires_on else None


def countdown(customer: Customer, today: dt.date) -> Countdown:
    """Days until the lead expires and the rule that will expire it (15-day rule wins a tie)."""
    result = expiry_of(customer, today)
    if result.expires_on is None:
        return Countdown(None, None, None)
    dates = expiry_dates(customer.received_on, customer.last_follow_up_on)
    reason = (choices.LOST_NO_CONVERSION if dates.get(choices.LOST_NO_CONVERSION) == result.expires_on
              else choices.LOST_NO_FOLLOW_UP)
    return Countdown(result.expires_on, (result.expires_on - today).days, reason)


def days_left(customer, today: dt.date) -> int | None:
    """Whole days the holder still has before the lead expires (0: expires today or already)."""
    left = countdown(customer, today).days_left
    return None if left is None else max(left, 0)
