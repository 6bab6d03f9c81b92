"""Lead factories for the sales page tests."""
from __future__ import annotations

import datetime as dt
import itertools

from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution

_qq = itertools.count(880000001)


def make_lead(consultant=None, *, name: str | None = None, qq: str | None = None, phone: str | None = None,
              email: str | None = None, source: int = 3, status: int = choices.NOT_ENROLLED,
              inquiry_date: dt.date = dt.date(2026, 3, 1), received_on: dt.date | None = None,
              last_follow_up_on: dt.date | None = None, courses=(), memo: str | None = None,
              origin: str = choices.ORIGIN_AUTO) -> Customer:
    """A lead, held by `consultant` (with an open history row) or unassigned in the pool."""
    qq = qq or str(next(_qq))
    held = consultant is not None
    received = received_on or (inquiry_date if held else None)
    customer = Customer(
        qq=qq, name=name or f"客户{qq[-4:]}", gender=1, source=source, status=status, phone=phone, email=email,
        consultant_id=consultant.id if held else None, inquiry_date=inquiry_date, received_on=received,
        last_follow_up_on=last_follow_up_on or received, memo=memo,
        pool_reason=None if held else choices.POOL_UNASSIGNED, channel="form",
    )
    customer.courses = list(courses)
    db.session.add(customer)
    db.session.flush()
    if held:
        db.session.add(CustomerDistribution(
            customer_id=customer.id, consultant_id=consultant.id, started_on=received,
            status=choices.FOLLOWING if status == choices.NOT_ENROLLED else choices.CONVERTED,
            ended_on=None if status == choices.NOT_ENROLLED else received, origin=origin,
        ))
    db.session.commit()
    return customer


def close_holding(customer: Customer, consultant, status: int, started_on: dt.date, ended_on: dt.date) -> None:
    """Add a closed history row (a loss or a conversion) for `consultant`."""
    db.session.add(CustomerDistribution(
        customer_id=customer.id, consultant_id=consultant.id, started_on=started_on, ended_on=ended_on,
        status=status, origin=choices.ORIGIN_AUTO,
    ))
    db.session.commit()


def use_english(client) -> None:
    """Switch the client to the English interface (assertions read English messages).

    Test requests share the test's app context, where Flask-Babel caches the
    locale, so the cache is dropped after switching.
    """
    from flask_babel import refresh

    client.post("/language/en")
    refresh()
