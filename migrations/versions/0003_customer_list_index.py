"""customers: one (inquiry_date, id) index for the lists' default order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_inquiry_date")
        batch_op.create_index("ix_customers_inquiry_date_id", ["inquiry_date", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_inquiry_date_id")
        batch_op.create_index("ix_customers_inquiry_date", ["inquiry_date"], unique=False)
