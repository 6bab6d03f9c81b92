"""users: session version, part of every session and remember cookie (issue 12)

Revision ID: issue12_0001
Revises: issue14_0001
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

revision = "issue12_0001"
down_revision = "issue14_0001"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of users would lose the
# expression index uq_users_username_lower, which SQLite reflection cannot see.
def upgrade():
    op.add_column("users", sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    op.drop_column("users", "session_version")
