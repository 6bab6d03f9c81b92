"""issue 14: an import job remembers the sheet, header row and column mapping chosen in the preview (S-9)

Revision ID: issue14_0001
Revises: teaching_0001
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

revision = "issue14_0001"
down_revision = "teaching_0001"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (SQLite 3.35+ has both): a batch copy would reflect the tables import_jobs refers to.
def upgrade():
    op.add_column("import_jobs", sa.Column("sheet_name", sa.String(length=255), nullable=True))
    op.add_column("import_jobs", sa.Column("header_row", sa.Integer(), nullable=True))
    op.add_column("import_jobs", sa.Column("column_keys", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("import_jobs", "column_keys")
    op.drop_column("import_jobs", "header_row")
    op.drop_column("import_jobs", "sheet_name")
