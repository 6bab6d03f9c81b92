"""Indexes an import writes into: the reclaim-run index holds only rows a reclaim closed (issue14_0002)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales.models import CustomerDistribution
from crm.sales.pool.reclaim import run_holdings


def test_the_reclaim_run_index_skips_open_holdings_and_serves_the_run_page(app):
    definition = db.session.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE name = 'ix_customer_distributions_reclaim_run'"
        if db.engine.dialect.name == "sqlite" else
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_customer_distributions_reclaim_run'")).scalar_one()
    assert "reclaim_run IS NOT NULL" in definition
    if db.engine.dialect.name != "postgresql":
        pytest.skip("query plans are read on PostgreSQL")
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # an empty table: ask whether the index fits
    statement = run_holdings("0" * 32).with_only_columns(CustomerDistribution.id)
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in db.session.execute(sa.text("EXPLAIN " + str(compiled))))
    assert "ix_customer_distributions_reclaim_run" in plan, plan
