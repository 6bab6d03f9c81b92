"""sales.models.StatusCode: a status compared with a constant code is written into the SQL.

The partial indexes on `status = 1` are recognised only when the query says `status = 1` too: a
smallint parameter hides them from a prepared statement's generic plan and made PostgreSQL count the
condition twice (see docs/architecture.md, Performance).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_constant_codes_are_written_into_the_sql_and_anything_else_stays_a_parameter(dialect):
    def sql(clause) -> str:
        return str(clause.compile(dialect=dialect))

    assert sql(Customer.status == choices.NOT_ENROLLED) == "customers.status = 1"
    assert sql(Customer.status != choices.ENROLLED) == "customers.status != 2"
    assert sql(CustomerDistribution.status == choices.FOLLOWING) == "customer_distributions.status = 1"
    for clause in (Customer.status == sa.bindparam("code"), Customer.status == True,  # noqa: E712
                   Customer.status == "1", Customer.status > 1):
        assert "status = 1" not in sql(clause) and "status > 1" not in sql(clause)


def test_the_query_with_the_written_code_finds_the_same_leads(app):
    from crm.extensions import db
    from tests.factories import make_user
    from tests.sales.lead_factories import make_lead

    holder = make_user("consultant")
    held = make_lead(holder, qq="7100001")
    statuses = dict(db.session.execute(sa.select(Customer.id, Customer.status).where(Customer.id == held.id)).all())
    assert statuses == {held.id: choices.NOT_ENROLLED}
    found = db.session.scalars(sa.select(Customer.id).where(Customer.status == choices.NOT_ENROLLED,
                                                            Customer.id == held.id)).all()
    assert found == [held.id]
