"""customers.ix_customers_held_expiry also carries last_follow_up_on, so My customers counts from the index alone

Revision ID: issue15_0004
Revises: issue15_0003
Create Date: 2026-12-02

PostgreSQL only. My customers counts the leads a consultant holds (capped at 1,001). The index
ix_customers_held_expiry has the expiry expression as a key, but PostgreSQL answers a query from
an index alone only when every column the query names is in it, and the expression names
last_follow_up_on, which was not: each count read the heap page of every lead held (315 pages,
1.5 ms for 1,000 leads at a million). With last_follow_up_on as an INCLUDE column the count is
an index-only scan (10 pages, 0.5 ms). The index is rebuilt: a moment's lock on customers.

An index-only scan still reads the heap page of a row changed since the table was last vacuumed
(the visibility map says which). PostgreSQL's default vacuums a table once a fifth of its rows
changed: 200,000 follow-ups at a million leads, weeks of work, during which the held leads'
pages are the very ones that changed. customers is vacuumed after 1 % instead (10,000 changed
rows); a vacuum that finds little to do is cheap.
"""
from alembic import op

revision = "issue15_0004"
down_revision = "issue15_0003"
branch_labels = None
depends_on = None

KEY = ("(consultant_id, COALESCE(LEAST(last_follow_up_on + 4, received_on + 16), 'infinity'::date), "
       "received_on, id)")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_held_expiry")
    op.execute(f"CREATE INDEX ix_customers_held_expiry ON customers {KEY} INCLUDE (last_follow_up_on) "
               "WHERE status = 1")
    op.execute("ALTER TABLE customers SET (autovacuum_vacuum_scale_factor = 0.01)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE customers RESET (autovacuum_vacuum_scale_factor)")
    op.execute("DROP INDEX IF EXISTS ix_customers_held_expiry")
    op.execute(f"CREATE INDEX ix_customers_held_expiry ON customers {KEY} WHERE status = 1")
