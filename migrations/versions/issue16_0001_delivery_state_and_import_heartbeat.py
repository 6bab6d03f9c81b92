"""notifications: delivery state in the database (sending / unknown, next attempt, Message-ID); import heartbeat

Revision ID: issue16_0001
Revises: issue12_0001
Create Date: 2026-12-01

"""
import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "issue16_0001"
down_revision = "issue12_0001"
branch_labels = None
depends_on = None

OLD_STATUSES = "status in ('queued', 'sent', 'failed')"
NEW_STATUSES = "status in ('queued', 'sending', 'sent', 'failed', 'unknown')"


@contextmanager
def quiet_batch(table: str):
    """Batch ALTER; on SQLite it reflects the table and, through its foreign keys, users, whose expression
    index (lower(username)) SQLAlchemy cannot reflect and warns about; that index is not copied anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection", category=sa.exc.SAWarning)
        with op.batch_alter_table(table) as batch:
            yield batch


def upgrade():
    with quiet_batch("notifications") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch.create_check_constraint("status", NEW_STATUSES)
        batch.create_index(batch.f("ix_notifications_next_attempt_at"), ["next_attempt_at"], unique=False)
    op.add_column("import_jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with quiet_batch("import_jobs") as batch:
        batch.drop_column("heartbeat_at")
    op.execute("UPDATE notifications SET status = 'queued' WHERE status IN ('sending', 'unknown')")
    with quiet_batch("notifications") as batch:
        batch.drop_index(batch.f("ix_notifications_next_attempt_at"))
        batch.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch.create_check_constraint("status", OLD_STATUSES)
        batch.drop_column("message_id")
        batch.drop_column("next_attempt_at")
