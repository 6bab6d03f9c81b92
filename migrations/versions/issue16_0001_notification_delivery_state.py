"""notifications: delivery state in the database (sending / unknown, next attempt, Message-ID)

Revision ID: issue16_0001
Revises: teaching_0001
Create Date: 2026-12-01

"""
import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "issue16_0001"
down_revision = "teaching_0001"
branch_labels = None
depends_on = None

OLD_STATUSES = "status in ('queued', 'sent', 'failed')"
NEW_STATUSES = "status in ('queued', 'sending', 'sent', 'failed', 'unknown')"


@contextmanager
def notifications_batch():
    """Batch ALTER of notifications; on SQLite it reflects the table and, through its foreign key, users,
    whose expression index (lower(username)) SQLAlchemy cannot reflect and warns about; it is not copied."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection", category=sa.exc.SAWarning)
        with op.batch_alter_table("notifications") as batch:
            yield batch


def upgrade():
    with notifications_batch() as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch.create_check_constraint("status", NEW_STATUSES)
        batch.create_index(batch.f("ix_notifications_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade():
    op.execute("UPDATE notifications SET status = 'queued' WHERE status IN ('sending', 'unknown')")
    with notifications_batch() as batch:
        batch.drop_index(batch.f("ix_notifications_next_attempt_at"))
        batch.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch.create_check_constraint("status", OLD_STATUSES)
        batch.drop_column("message_id")
        batch.drop_column("next_attempt_at")
