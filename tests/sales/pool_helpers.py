"""Bulk lead helpers for the pool, reclaim and grab tests."""
from __future__ import annotations

import datetime as dt
import itertools

import sqlalchemy as sa

from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution

_qq = itertools.count(770000001)


def bulk_held_leads(consultant_id: int, n: int, *, received_on: dt.date, last_follow_up_on: dt.date,
                    commit: bool = True) -> list[int]:
    """n held, not-enrolled leads with open history rows, inserted set-wise; returns their ids."""
    rows = []
    for _ in range(n):
        qq = str(next(_qq))
        rows.append(dict(qq=qq, name=f"批量{qq[-5:]}", gender=1, source=3, status=choices.NOT_ENROLLED,
                         consultant_id=consultant_id, inquiry_date=received_on, received_on=received_on,
                         last_follow_up_on=last_follow_up_on, channel="form"))
    db.session.execute(sa.insert(Customer), rows)
    ids = list(db.session.scalars(sa.select(Customer.id).where(Customer.qq.in_([r["qq"] for r in rows]))))
    db.session.execute(sa.insert(CustomerDistribution), [
        dict(customer_id=i, consultant_id=consultant_id, started_on=received_on, status=choices.FOLLOWING,
             origin=choices.ORIGIN_AUTO) for i in ids
    ])
    if commit:
        db.session.commit()
    return ids


def open_rows(customer_id: int) -> list[CustomerDistribution]:
    """The lead's open history rows (at most one, by the partial unique index)."""
    return list(db.session.scalars(sa.select(CustomerDistribution).where(
        CustomerDistribution.customer_id == customer_id, CustomerDistribution.status == choices.FOLLOWING)))


def history(customer_id: int) -> list[CustomerDistribution]:
    """Every history row of a lead, oldest first."""
    return list(db.session.scalars(sa.select(CustomerDistribution).where(
        CustomerDistribution.customer_id == customer_id).order_by(CustomerDistribution.id)))
