"""customer_distributions.reclaim_run indexed only where set: history rows opened by an import or a grab do not add an entry

Revision ID: issue14_0002
Revises: issue15_0002
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

revision = "issue14_0002"
down_revision = "issue15_0002"
branch_labels = None
depends_on = None


def upgrade():
    # Only rows closed by a reclaim run carry one; every open holding (an import writes 100,000 at once)
    # had an index entry for NULL. The run's page looks rows up by `reclaim_run = :run`, which the
    # partial index answers.
    op.drop_index("ix_customer_distributions_reclaim_run", table_name="customer_distributions")
    op.create_index("ix_customer_distributions_reclaim_run", "customer_distributions", ["reclaim_run"],
                    unique=False, postgresql_where=sa.text("reclaim_run IS NOT NULL"),
                    sqlite_where=sa.text("reclaim_run IS NOT NULL"))


def downgrade():
    op.drop_index("ix_customer_distributions_reclaim_run", table_name="customer_distributions")
    op.create_index("ix_customer_distributions_reclaim_run", "customer_distributions", ["reclaim_run"],
                    unique=False)
