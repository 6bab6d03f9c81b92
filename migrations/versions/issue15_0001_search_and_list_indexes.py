"""customers: trigram name search, the pool's unassigned leads, held leads by expiry (issue 15)

Revision ID: issue15_0001
Revises: issue16_0001
Create Date: 2026-12-02

PostgreSQL gets pg_trgm, the function crm_name_grams (every character and every pair of
neighbouring characters of the name as words, so pg_trgm indexes them: see
crm.sales.lead_search) with a GIN index on
it, and partial indexes of held leads by their expiry day (My customers per consultant; the
expired ones the pool shows before the nightly reclaim). Both
dialects get the partial index of unassigned not-enrolled leads (the pool page).
"""
import sqlalchemy as sa
from alembic import op

revision = "issue15_0001"
down_revision = "issue13_0001"
branch_labels = None
depends_on = None

# " 王 伟 明 王伟 明 伟明 ": every character, then the pairs starting at odd and at even positions, each a
# word of its own (crm.sales.lead_search). One expression, so PostgreSQL inlines it: cheap to recheck.
NAME_GRAMS = r"""
CREATE OR REPLACE FUNCTION crm_name_grams(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ' ' || regexp_replace(name, '(.)', '\1 ', 'g') || regexp_replace(name, '(..)', '\1 ', 'g')
          || ' ' || regexp_replace(substr(name, 2), '(..)', '\1 ', 'g') || ' ' $$
"""
POOL_WHERE = "status = 1 AND consultant_id IS NULL"


def upgrade():
    op.create_index("ix_customers_pool_inquiry", "customers", ["inquiry_date", "id"], unique=False,
                    postgresql_where=sa.text(POOL_WHERE), sqlite_where=sa.text(POOL_WHERE))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(NAME_GRAMS)
    op.execute("CREATE INDEX ix_customers_name_grams ON customers USING gin (crm_name_grams(name) gin_trgm_ops)")
    op.execute("CREATE INDEX ix_customers_held_expiry ON customers "
               "(consultant_id, COALESCE(LEAST(last_follow_up_on + 4, received_on + 16), 'infinity'::date), received_on, id) WHERE status = 1")
    op.execute("CREATE INDEX ix_customers_held_expires ON customers "
               "(COALESCE(LEAST(last_follow_up_on + 4, received_on + 16), 'infinity'::date)) WHERE status = 1 AND consultant_id IS NOT NULL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_held_expires")
        op.execute("DROP INDEX IF EXISTS ix_customers_held_expiry")
        op.execute("DROP INDEX IF EXISTS ix_customers_name_grams")
        op.execute("DROP FUNCTION IF EXISTS crm_name_grams(text)")
        # pg_trgm stays installed: other objects in this database may have come to use it.
    op.drop_index("ix_customers_pool_inquiry", table_name="customers")
