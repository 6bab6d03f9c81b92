"""The allocation table (S-3): who deals in the cycle, how many leads each and in what order.

Saving it is one change; the queue in Redis (crm.sales.allocation) picks the new
table up after the commit.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.auth.models import User
from crm.core import audit
from crm.core.errors import DomainError
from crm.extensions import db
from crm.sales import people
from crm.sales.models import SaleRank

NUM_MIN, NUM_MAX = 1, 1000
WEIGHT_MIN, WEIGHT_MAX = 0, 10000


def consultants() -> list[User]:
    """Everyone the allocation table may show: consultants (crm.sales.people) and whoever is already in it."""
    return list(db.session.scalars(sa.select(User).where(_consultant_or_in_table()).order_by(User.name, User.id)))


def consultant_options() -> list:
    """(id, name) rows of `consultants()`, for a filter's select box: no user objects to build."""
    return db.session.execute(_consultant_options_statement()).all()


@functools.cache
def _consultant_options_statement() -> sa.Select:
    return sa.select(User.id, User.name).where(_consultant_or_in_table()).order_by(User.name, User.id)


def _consultant_or_in_table() -> sa.ColumnElement[bool]:
    return sa.or_(User.id.in_(sa.select(SaleRank.user_id)), User.id.in_(people.consultant_ids_query()))


def allocation_rows() -> list[SaleRank]:
    """The allocation table in dealing order (weight descending, then user id)."""
    return list(db.session.scalars(
        sa.select(SaleRank).order_by(SaleRank.weight.desc(), SaleRank.user_id)
    ))


def addable_consultants() -> list[User]:
    """Active consultants not yet in the table."""
    in_table = {row.user_id for row in allocation_rows()}
    return [u for u in people.consultants() if u.id not in in_table]


@dataclass
class RankChange:
    """One row of the allocation form, already type-checked by the form."""

    user_id: int
    num: int
    weight: int
    active: bool
    on_leave_until: dt.date | None


def save_allocation_table(actor_id: int, changes: list[RankChange], added: RankChange | None) -> int:
    """Apply the edited rows (and an optional new consultant) as one change; returns rows changed.

    Raises DomainError naming the row's field for out-of-range values or
    unknown users; the caller commits and then calls
    `allocation.mark_table_changed()`.
    """
    rows = {row.user_id: row for row in allocation_rows()}
    for change in changes + ([added] if added else []):
        _check_rank(change)
    seen = set()
    for change in changes:
        if change.user_id not in rows or change.user_id in seen:
            raise DomainError(_("Unknown consultant in the table; reload the page."))
        seen.add(change.user_id)
    if added is not None:
        if added.user_id in rows:
            raise DomainError(_("This consultant is already in the table."), field="new_user_id")
        if added.user_id not in {u.id for u in addable_consultants()}:
            raise DomainError(_("Choose a consultant from the list."), field="new_user_id")
    before = {uid: _rank_state(row) for uid, row in rows.items()}
    changed = 0
    for change in changes:
        row = rows[change.user_id]
        state = (change.num, change.weight, change.active, change.on_leave_until)
        if _rank_state(row) != state:
            row.num, row.weight, row.active, row.on_leave_until = state
            changed += 1
    if added is not None:
        db.session.add(SaleRank(user_id=added.user_id, num=added.num, weight=added.weight,
                                active=added.active, on_leave_until=added.on_leave_until))
        changed += 1
    if changed:
        db.session.flush()
        after = {row.user_id: _rank_state(row) for row in allocation_rows()}
        audit.record(actor_id, "allocation.table", "sale_rank", None,
                     before={str(k): list(map(str, v)) for k, v in before.items()},
                     after={str(k): list(map(str, v)) for k, v in after.items()})
    return changed


def _rank_state(row: SaleRank) -> tuple:
    return (row.num, row.weight, row.active, row.on_leave_until)


def _check_rank(change: RankChange) -> None:
    if not NUM_MIN <= change.num <= NUM_MAX:
        raise DomainError(_("Leads per cycle must be between %(a)s and %(b)s.", a=NUM_MIN, b=NUM_MAX), field="num")
    if not WEIGHT_MIN <= change.weight <= WEIGHT_MAX:
        raise DomainError(_("Weight must be between %(a)s and %(b)s.", a=WEIGHT_MIN, b=WEIGHT_MAX), field="weight")
