"""S-14 expiry rule: dated examples, Python and SQL agree."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer
from crm.sales.pool.expiry import days_left, expired_clause, expiry_of, in_pool_clause
from tests.factories import make_user
from tests.sales.lead_factories import make_lead

MAR = lambda d: dt.date(2026, 3, d)  # noqa: E731


def sql_expired(customer, today) -> bool:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Customer).where(Customer.id == customer.id, expired_clause(today))
    ) == 1


@pytest.fixture
def consultant():
    return make_user("consultant")


def test_received_1_last_follow_up_2_held_on_5_expired_reason_3_on_6(consultant):
    lead = make_lead(consultant, received_on=MAR(1), last_follow_up_on=MAR(2))
    assert expiry_of(lead, MAR(5)) == (False, None, MAR(6))
    assert not sql_expired(lead, MAR(5))
    assert expiry_of(lead, MAR(6)) == (True, choices.LOST_NO_FOLLOW_UP, MAR(6))
    assert sql_expired(lead, MAR(6))
    assert days_left(lead, MAR(5)) == 1


@pytest.mark.parametrize("today, expired, reason", [
    (MAR(16), False, None),
    (MAR(17), True, choices.LOST_NO_CONVERSION),
])
def test_followed_up_daily_expires_reason_4_on_17(consultant, today, expired, reason):
    lead = make_lead(consultant, received_on=MAR(1), last_follow_up_on=today - dt.timedelta(days=1))
    got = expiry_of(lead, today)
    assert (got.expired, got.reason) == (expired, reason)
    assert got.expires_on == MAR(17)
    assert sql_expired(lead, today) is expired


def test_both_rules_hold_reason_is_4(consultant):
    lead = make_lead(consultant, received_on=MAR(1), last_follow_up_on=MAR(1))
    assert expiry_of(lead, MAR(20)) == (True, choices.LOST_NO_CONVERSION, MAR(5))
    assert sql_expired(lead, MAR(20))


def test_enrolled_leads_never_expire(consultant):
    lead = make_lead(consultant, received_on=MAR(1), last_follow_up_on=MAR(1), status=choices.ENROLLED)
    far = dt.date(2030, 1, 1)
    assert expiry_of(lead, far) == (False, None, None)
    assert not sql_expired(lead, far)
    in_pool = db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                                .where(Customer.id == lead.id, in_pool_clause(far)))
    assert in_pool == 0


def test_unassigned_leads_do_not_expire_but_are_in_the_pool():
    lead = make_lead(None, inquiry_date=MAR(1))
    assert expiry_of(lead, MAR(30)) == (False, None, None)
    assert not sql_expired(lead, MAR(30))
    in_pool = db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                                .where(Customer.id == lead.id, in_pool_clause(MAR(30))))
    assert in_pool == 1
