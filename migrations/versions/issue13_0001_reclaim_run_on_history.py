"""customer_distributions.reclaim_run: the reclaim run that closed a holding (its e-mail links to exactly those)

Revision ID: issue13_0001
Revises: issue16_0001
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = "issue13_0001"
down_revision = "issue16_0001"
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column and an index: plain ALTERs on SQLite too (no table copy).
    op.add_column("customer_distributions", sa.Column("reclaim_run", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_customer_distributions_reclaim_run"), "customer_distributions", ["reclaim_run"],
                    unique=False)


def downgrade():
    op.drop_index(op.f("ix_customer_distributions_reclaim_run"), table_name="customer_distributions")
    op.drop_column("customer_distributions", "reclaim_run")  # SQLite 3.35+ drops an unindexed column in place
