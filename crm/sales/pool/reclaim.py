"""Nightly reclaim of expired leads into the public pool, and the expiry reminder (S-15).

Set-based: the number of SQL statements does not depend on the number of
leads. On PostgreSQL one statement does the work (a data-modifying CTE:
move the leads, close their open history rows, count per consultant). On
SQLite three statements run inside one write transaction. Both forms are
conditional on the lead still being expired, so a second or concurrent run
changes nothing; a Redis lock additionally keeps two runs from overlapping.

Services flush and never commit: `run_reclaim` (task and CLI) commits; the
queued e-mails go out after that commit (crm.core.uow).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import redis as redis_lib
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.core import audit, uow
from crm.extensions import db, on_postgresql, redis
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution
from crm.sales.pool.expiry import expired_clause, reason_case

LOCK_TIMEOUT_SECONDS = 15 * 60
LOCK_WAIT_SECONDS = 120
LEAD_LIST_LIMIT = 50  # leads named in one e-mail; the rest are counted and one link away


@dataclass
class ReclaimResult:
    """What one reclaim run did."""

    today: dt.date
    # consultant id -> {reason: count}
    per_consultant: dict[int, dict[int, int]] = field(default_factory=dict)
    # consultant id -> [(lead id, reason)] of the leads this run moved, by lead id
    leads: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    notification_ids: list[int] = field(default_factory=list)
    skipped: bool = False  # another run held the lock for too long

    @property
    def total(self) -> int:
        """Leads moved to the pool by this run."""
        return sum(sum(reasons.values()) for reasons in self.per_consultant.values())

    def counts_for(self, consultant_id: int) -> int:
        """Leads this consultant lost in this run."""
        return sum(self.per_consultant.get(consultant_id, {}).values())


def _move_postgresql(today: dt.date, run_id: str) -> list[tuple[int, int, int]]:
    """One statement: move the expired leads, close their history rows; (lead, consultant, reason) rows."""
    customers = Customer.__table__
    cd = CustomerDistribution.__table__
    moved = (
        sa.update(customers)
        .where(expired_clause(today))
        .values(
            last_lost_by_id=customers.c.consultant_id,
            pool_reason=reason_case(today),
            pool_since=today,
            consultant_id=None,
        )
        .returning(customers.c.id, customers.c.last_lost_by_id, customers.c.pool_reason)
        .cte("moved")
    )
    closed = (
        sa.update(cd)
        .where(cd.c.customer_id == moved.c.id, cd.c.status == choices.FOLLOWING)
        .values(status=moved.c.pool_reason, ended_on=today, reclaim_run=run_id)
        .returning(cd.c.id)
        .cte("closed")
    )
    query = (
        sa.select(moved.c.id, moved.c.last_lost_by_id, moved.c.pool_reason)
        # Referencing `closed` makes sure the history update is part of the statement.
        .add_cte(closed)
    )
    return [tuple(row) for row in db.session.execute(query)]


def _move_portable(today: dt.date, run_id: str) -> list[tuple[int, int, int]]:
    """Three statements in one transaction (SQLite and any other database)."""
    customers = Customer.__table__
    cd = CustomerDistribution.__table__
    expired_ids = sa.select(customers.c.id).where(expired_clause(today))
    reason_of_lead = (
        sa.select(reason_case(today)).where(customers.c.id == cd.c.customer_id).scalar_subquery()
    )
    # The history rows first: this takes SQLite's write lock, so the list and the move
    # below see the same rows and no other writer can slip in between.
    db.session.execute(
        sa.update(cd)
        .where(cd.c.status == choices.FOLLOWING, cd.c.customer_id.in_(expired_ids))
        .values(status=reason_of_lead, ended_on=today, reclaim_run=run_id),
        execution_options={"synchronize_session": False},
    )
    moved = db.session.execute(
        sa.select(customers.c.id, customers.c.consultant_id, reason_case(today)).where(expired_clause(today))
    ).all()
    db.session.execute(
        sa.update(customers)
        .where(expired_clause(today))
        .values(
            last_lost_by_id=customers.c.consultant_id,
            pool_reason=reason_case(today),
            pool_since=today,
            consultant_id=None,
        ),
        execution_options={"synchronize_session": False},
    )
    return [tuple(row) for row in moved]


def reclaim_expired(today: dt.date, actor_id: int | None = None, *, use_lock: bool = True) -> ReclaimResult:
    """Move every lead expired as of `today` to the public pool; queue one summary per consultant.

    Flushes, never commits. `use_lock=False` skips the Redis lock (tests prove the
    conditional updates alone keep concurrent runs from reclaiming a lead twice).
    """
    lock = None
    if use_lock:
        lock = redis.client.lock(
            redis.key("reclaim", "lock"), timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS
        )
        if not lock.acquire():
            return ReclaimResult(today=today, skipped=True)
    try:
        result = ReclaimResult(today=today)
        # The closed history rows carry the run's id: each run's e-mail links to exactly its leads.
        if on_postgresql():
            rows = _move_postgresql(today, result.run_id)
        else:
            rows = _move_portable(today, result.run_id)
        db.session.expire_all()  # the ORM copies of moved leads are stale now
        per: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        leads: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for lead_id, consultant_id, reason in sorted(rows):
            per[int(consultant_id)][int(reason)] += 1
            leads[int(consultant_id)].append((int(lead_id), int(reason)))
        result.per_consultant = {k: dict(v) for k, v in per.items()}
        result.leads = dict(leads)
        if result.per_consultant:
            result.notification_ids = _queue_summaries(result)
        audit.record(
            actor_id, "lead.reclaim", "reclaim", today.isoformat(), total=result.total,
            consultants={str(k): v for k, v in sorted(result.per_consultant.items())}, run=result.run_id,
        )
        db.session.flush()
        return result
    finally:
        # The lock is released when the caller's transaction ends (commit or rollback); a
        # second run waiting on it then finds the conditional updates match nothing.
        if lock is not None:
            uow.after_end(lambda: _release_quietly(lock))


def _release_quietly(lock) -> None:
    """Release the lock; an expired or already released lock has nothing to give back."""
    try:
        lock.release()
    except redis_lib.RedisError:
        pass


def _users_by_id(ids) -> dict[int, User]:
    """Users by id in one query."""
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(list(ids))))}


def _listed_leads(ids: list[int]) -> dict[int, Customer]:
    """The leads an e-mail lists, by id, in one query."""
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(sa.select(Customer).where(Customer.id.in_(ids)))}


def _lead_items(customers: dict[int, Customer], pairs: list[tuple[int, int]]) -> list[dict]:
    """What an e-mail says of each lead: name, QQ, reason, the day it expired and a link."""
    from crm.core.links import public_url
    from crm.sales.pool.expiry import expiry_dates

    items = []
    for lead_id, reason in pairs:
        customer = customers.get(lead_id)
        if customer is None:
            continue
        dates = expiry_dates(customer.received_on, customer.last_follow_up_on)
        items.append({"id": lead_id, "name": customer.name, "qq": customer.qq, "reason": reason,
                      "expired_on": min(dates.values()).isoformat() if dates else "",
                      "url": public_url("sales.lead_detail", customer_id=lead_id)})
    return items


def _queue_summaries(result: ReclaimResult) -> list[int]:
    """One summary e-mail per consultant for this run, naming its leads (capped; deduplicated per run)."""
    from crm.core.links import public_url

    users = _users_by_id(result.per_consultant)
    if not any(u.email for u in users.values()):
        return []
    from crm.notifications.services import queue_email

    listed = {cid: pairs[:LEAD_LIST_LIMIT] for cid, pairs in result.leads.items()}
    customers = _listed_leads([lead_id for pairs in listed.values() for lead_id, _reason in pairs])
    ids = []
    for consultant_id, reasons in sorted(result.per_consultant.items()):
        user = users.get(consultant_id)
        if user is None or not user.email:
            continue
        total = sum(reasons.values())
        note = queue_email(
            kind="lead_reclaimed",
            recipient_id=consultant_id,
            to_address=user.email,
            subject=_l("%(n)d lead(s) returned to the public pool on %(date)s",
                       n=total, date=result.today.isoformat()),
            template="sales_reclaim_summary",
            context={
                "name": user.name,
                "today": result.today.isoformat(),
                "total": total,
                "no_follow_up": reasons.get(choices.LOST_NO_FOLLOW_UP, 0),
                "no_conversion": reasons.get(choices.LOST_NO_CONVERSION, 0),
                "leads": _lead_items(customers, listed.get(consultant_id, [])),
                "more": max(total - LEAD_LIST_LIMIT, 0),
                # This run's leads of this consultant, exactly (a second run on the same day has its own list).
                "run_url": public_url("sales.reclaim_run", run_id=result.run_id),
            },
            dedupe_key=f"reclaim:{result.today}:{result.run_id}:{consultant_id}",  # per run (S-15)
            locale=user.locale,
        )
        if note is not None:
            ids.append(note.id)
    return ids


RUN_ID_LENGTH = 32  # uuid4().hex


def run_holdings(run_id: str, consultant_id: int | None = None) -> sa.Select:
    """The history rows one reclaim run closed (of one consultant, or all), by lead: what its e-mail listed."""
    stmt = (
        sa.select(CustomerDistribution)
        .where(CustomerDistribution.reclaim_run == run_id)
        .options(joinedload(CustomerDistribution.customer), joinedload(CustomerDistribution.consultant))
    )
    if consultant_id is not None:
        stmt = stmt.where(CustomerDistribution.consultant_id == consultant_id)
    return stmt.order_by(CustomerDistribution.customer_id, CustomerDistribution.id)


def run_reclaim(today: dt.date, actor_id: int | None = None) -> ReclaimResult:
    """Reclaim and commit (the task and the CLI call this); the e-mails leave after the commit."""
    result = reclaim_expired(today, actor_id)
    uow.commit()
    current_app.logger.info("reclaim %s: %d lead(s) moved to the pool", today, result.total)
    return result


# -- reminder ----------------------------------------------------------------------------

REMINDER_LIST_LIMIT = LEAD_LIST_LIMIT


def expiring_tomorrow(today: dt.date) -> dict[int, list[tuple[int, str, str, int]]]:
    """Leads that are fine today and expired tomorrow, per consultant (id, name, qq, reason)."""
    tomorrow = today + dt.timedelta(days=1)
    rows = db.session.execute(
        sa.select(Customer.consultant_id, Customer.id, Customer.name, Customer.qq, reason_case(tomorrow))
        .where(expired_clause(tomorrow), sa.not_(expired_clause(today)))
        .order_by(Customer.consultant_id, Customer.id)
    )
    per: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    for consultant_id, lead_id, name, qq, reason in rows:
        per[consultant_id].append((lead_id, name, qq, int(reason)))
    return dict(per)


def queue_expiry_reminders(today: dt.date) -> list[int]:
    """One reminder per consultant with leads expiring tomorrow (deduplicated per date); flushes."""
    leads = expiring_tomorrow(today)
    users = _users_by_id(leads)
    if not any(u.email for u in users.values()):
        return []
    from crm.core.links import public_url
    from crm.notifications.services import queue_email

    ids = []
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    for consultant_id, items in sorted(leads.items()):
        user = users.get(consultant_id)
        if user is None or not user.email:
            continue
        note = queue_email(
            kind="expiry_reminder",
            recipient_id=consultant_id,
            to_address=user.email,
            subject=_l("%(n)d lead(s) return to the public pool tomorrow", n=len(items)),
            template="sales_expiry_reminder",
            context={
                "name": user.name,
                "tomorrow": tomorrow,
                "total": len(items),
                "leads": [{"id": i, "name": n, "qq": q, "reason": r, "expired_on": tomorrow,
                           "url": public_url("sales.lead_detail", customer_id=i)}
                          for i, n, q, r in items[:REMINDER_LIST_LIMIT]],
                "more": max(len(items) - REMINDER_LIST_LIMIT, 0),
                "list_url": public_url("sales.my_customers"),
            },
            dedupe_key=f"expiry-reminder:{today}:{consultant_id}",
            locale=user.locale,
        )
        if note is not None:
            ids.append(note.id)
    db.session.flush()
    return ids


def run_expiry_reminders(today: dt.date) -> list[int]:
    """Queue the reminders and commit (the beat task calls this); the e-mails leave after the commit."""
    ids = queue_expiry_reminders(today)
    uow.commit()
    return ids
