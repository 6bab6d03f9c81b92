"""customers.name_grams: the name's search words stored, so a name search never recomputes them; referrers indexed (issue 15)

Revision ID: issue15_0002
Revises: issue15_0001
Create Date: 2026-12-01

PostgreSQL only. issue15_0001 indexed the expression crm_name_grams(name); every row a search
reads (to recheck the index's candidates, or walking the list's order) recomputed it, three
regular-expression passes per row — most of a common name's search time at a million leads.
The words are now a stored generated column of the lower-cased name, kept by PostgreSQL itself on
every insert and update (the application never writes it), with the trigram index on it; a search
compares stored text with LIKE. Adding the column rewrites the table once.

Both dialects: a partial index on customers.referred_by_id (the few leads that name a referrer).
Deleting a lead makes the database look for the leads it referred (ON DELETE SET NULL); without
an index that is a read of the whole table per deleted lead.
"""
import sqlalchemy as sa
from alembic import op

revision = "issue15_0002"
down_revision = "issue15_0001"
branch_labels = None
depends_on = None


REFERRED = "referred_by_id IS NOT NULL"


def upgrade():
    op.create_index("ix_customers_referred_by_id", "customers", ["referred_by_id"], unique=False,
                    postgresql_where=sa.text(REFERRED), sqlite_where=sa.text(REFERRED))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_customers_name_grams")
    op.execute("ALTER TABLE customers ADD COLUMN name_grams text "
               "GENERATED ALWAYS AS (crm_name_grams(lower(name))) STORED")
    op.execute("CREATE INDEX ix_customers_name_grams ON customers USING gin (name_grams gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customers_name_grams")
        op.execute("ALTER TABLE customers DROP COLUMN IF EXISTS name_grams")
        op.execute("CREATE INDEX ix_customers_name_grams ON customers USING gin (crm_name_grams(name) gin_trgm_ops)")
    op.drop_index("ix_customers_referred_by_id", table_name="customers")
