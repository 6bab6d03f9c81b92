"""seed-demo's sales part: allocation table, 300 leads in every state so far, idempotent."""
from __future__ import annotations

import sqlalchemy as sa

from crm.core import clock
from crm.demo import seed_demo
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import ConsultRecord, Customer, CustomerDistribution, SaleRank
from crm.sales.pool import expiry


def test_seed_demo_sales_data_once():
    assert seed_demo(password="demo-pass-1") is True
    today = clock.today()
    ranks = {r.user.username: (r.weight, r.num) for r in db.session.scalars(sa.select(SaleRank))}
    assert ranks == {"sales1": (7, 2), "sales2": (5, 5), "sales3": (3, 3)}
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 300
    assert db.session.scalar(sa.select(sa.func.count()).where(Customer.status == choices.ENROLLED)) > 0
    held = sa.and_(Customer.consultant_id.is_not(None), Customer.status == choices.NOT_ENROLLED)
    following = db.session.scalar(sa.select(sa.func.count()).where(held, sa.not_(expiry.stale_clause(today))))
    expired = db.session.scalar(sa.select(sa.func.count()).where(expiry.expired_clause(today)))
    unassigned = db.session.scalar(sa.select(sa.func.count()).where(Customer.consultant_id.is_(None)))
    assert following >= 100 and expired > 0 and unassigned > 0
    statuses = set(db.session.scalars(sa.select(CustomerDistribution.status).distinct()))
    assert statuses == {choices.FOLLOWING, choices.CONVERTED, choices.LOST_NO_FOLLOW_UP, choices.LOST_NO_CONVERSION}
    assert set(db.session.scalars(sa.select(Customer.pool_reason).distinct())) >= {
        choices.POOL_UNASSIGNED, choices.LOST_NO_FOLLOW_UP, choices.LOST_NO_CONVERSION}
    assert db.session.scalar(sa.select(sa.func.count(ConsultRecord.id))) > 100
    # Every held lead has exactly one open history row with its holder.
    open_rows = dict(db.session.execute(
        sa.select(CustomerDistribution.customer_id, CustomerDistribution.consultant_id)
        .where(CustomerDistribution.status == choices.FOLLOWING)).all())
    holders = dict(db.session.execute(sa.select(Customer.id, Customer.consultant_id).where(held)).all())
    assert open_rows == holders
    assert seed_demo(password="demo-pass-1") is False
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 300
