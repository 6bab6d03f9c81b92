"""Celery beat tasks: nightly reclaim (00:05) and the expiry reminder (09:00), S-15."""
from __future__ import annotations

import datetime as dt

import redis
from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from crm.core import clock

# A dropped connection to Redis (the lock) or to the database is worth another try; the
# builtin ConnectionError is not what redis-py or SQLAlchemy raise. The work is idempotent.
RETRY_ON = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError, InterfaceError)


def _as_date(value: str | None) -> dt.date:
    """The run date: an ISO date given by the caller, else today (school time zone)."""
    return dt.date.fromisoformat(value) if value else clock.today()


@shared_task(name="crm.sales.reclaim_expired_leads", autoretry_for=RETRY_ON,
             retry_backoff=True, retry_kwargs={"max_retries": 3})
def reclaim_expired_leads(as_of: str | None = None) -> dict:
    """Move expired leads to the public pool and e-mail each consultant one summary."""
    from crm.sales.pool.reclaim import run_reclaim

    result = run_reclaim(_as_date(as_of))
    return {"date": result.today.isoformat(), "total": result.total, "skipped": result.skipped}


@shared_task(name="crm.sales.remind_expiring_leads", autoretry_for=RETRY_ON,
             retry_backoff=True, retry_kwargs={"max_retries": 3})
def remind_expiring_leads(as_of: str | None = None) -> int:
    """E-mail each consultant the leads that expire tomorrow (one message per day)."""
    from crm.sales.pool.reclaim import run_expiry_reminders

    return len(run_expiry_reminders(_as_date(as_of)))
