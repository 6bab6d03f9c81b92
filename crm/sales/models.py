"""Sales tables: leads, assignment history, allocation table, follow-ups,
payments, Excel import jobs (S-1 … S-4, S-9). Students and enrolments live in crm.students."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.extensions import db
from crm.org.models import ClassList, Course
from crm.sales import choices
from crm.students.models import Student


class StatusCode(sa.TypeDecorator):
    """A SMALLINT status code whose comparisons with a constant code write the code into the SQL.

    `Customer.status == choices.NOT_ENROLLED` becomes `customers.status = 1`, not a parameter: the
    partial indexes on `status = 1` below are then recognised by PostgreSQL in every plan, the generic
    plan of a prepared statement included, and the condition is not counted (and served by the index
    on status) a second time. A parameter of type smallint made My customers of a consultant holding
    1,000 leads AND a bitmap of every held lead of the table: 8 ms instead of 2.
    """

    impl = sa.SmallInteger
    cache_ok = True

    class comparator_factory(sa.TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            if op in (sa.sql.operators.eq, sa.sql.operators.ne) and len(other) == 1 and type(other[0]) is int:
                return op(self.expr, sa.literal_column(str(other[0]), sa.SmallInteger()))
            return super().operate(op, *other, **kwargs)


customer_courses = sa.Table(
    "customer_courses",
    db.metadata,
    sa.Column("customer_id", sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("course_id", sa.ForeignKey("courses.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


# A held lead's first expired day as PostgreSQL indexes it (crm.sales.pool.expiry.ExpiresOn writes the same).
HELD_EXPIRES_ON = "COALESCE(LEAST(last_follow_up_on + 4, received_on + 16), 'infinity'::date)"


class Customer(db.Model):
    """A lead (客户): a prospective student (S-1)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    qq: Mapped[str] = mapped_column(sa.String(12), unique=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    gender: Mapped[int] = mapped_column(sa.SmallInteger)
    education: Mapped[int | None] = mapped_column(sa.SmallInteger)
    graduation_school: Mapped[str | None] = mapped_column(sa.String(64))
    major: Mapped[str | None] = mapped_column(sa.String(64))
    experience: Mapped[int | None] = mapped_column(sa.SmallInteger)
    work_status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    company: Mapped[str | None] = mapped_column(sa.String(64))
    salary: Mapped[str | None] = mapped_column(sa.String(32))
    source: Mapped[int] = mapped_column(sa.SmallInteger, index=True)
    referred_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id", ondelete="SET NULL"))
    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    memo: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[int] = mapped_column(StatusCode, default=choices.NOT_ENROLLED)
    consultant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    inquiry_date: Mapped[dt.date]
    received_on: Mapped[dt.date | None]
    last_follow_up_on: Mapped[dt.date | None]
    # Who most recently lost this lead to the pool; they cannot grab it back (S-17).
    last_lost_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    pool_reason: Mapped[int | None] = mapped_column(sa.SmallInteger)
    pool_since: Mapped[dt.date | None]
    channel: Mapped[str] = mapped_column(sa.String(16), default="form")  # form, import, api, demo
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    consultant: Mapped[User | None] = relationship(foreign_keys=[consultant_id])
    last_lost_by: Mapped[User | None] = relationship(foreign_keys=[last_lost_by_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    referred_by: Mapped["Customer | None"] = relationship(remote_side=[id])
    courses: Mapped[list[Course]] = relationship(secondary=customer_courses, order_by="Course.name")

    __table_args__ = (
        sa.CheckConstraint("status in (1, 2)", name="status"),
        sa.CheckConstraint("gender in (1, 2)", name="gender"),
        sa.CheckConstraint("source between 1 and 16", name="source"),
        # Held leads by consultant, and the expiry dates the pool and reclaim filter on.
        sa.Index("ix_customers_consultant_status", "consultant_id", "status"),
        sa.Index("ix_customers_status_follow_up", "status", "last_follow_up_on"),
        sa.Index("ix_customers_status_received", "status", "received_on"),
        # Lists sort by inquiry date, newest first, ties by id (pool, all leads).
        sa.Index("ix_customers_inquiry_date_id", "inquiry_date", "id"),
        # The pool's unassigned leads in the pool page's order: it reads only the rows it shows (issue15_0001).
        sa.Index("ix_customers_pool_inquiry", "inquiry_date", "id",
                 postgresql_where=sa.text("status = 1 AND consultant_id IS NULL"),
                 sqlite_where=sa.text("status = 1 AND consultant_id IS NULL")),
        # The leads a lead referred (deleting a lead sets their referrer to NULL): few, so partial.
        sa.Index("ix_customers_referred_by_id", "referred_by_id",
                 postgresql_where=sa.text("referred_by_id IS NOT NULL"),
                 sqlite_where=sa.text("referred_by_id IS NOT NULL")),
        # PostgreSQL only: names by any part (crm.sales.lead_search) through the stored column
        # name_grams and the table of its words, customer_name_words, kept by triggers (migrations
        # issue15_0002/0003); neither is mapped here (crm.extensions.DATABASE_ONLY) ...
        # ... and a consultant's held leads in expiry order, soonest first (My customers, S-12;
        # crm.sales.pool.expiry.expires_on_sql); last_follow_up_on included so the page's count is
        # answered by the index alone (issue15_0004).
        sa.Index("ix_customers_held_expiry", "consultant_id",
                 sa.text(HELD_EXPIRES_ON), "received_on", "id",
                 postgresql_where=sa.text("status = 1"), postgresql_include=["last_follow_up_on"]),
        # ... and held leads by expiry day across consultants: the expired ones the pool shows
        # before the nightly reclaim moves them (crm.sales.pool.services.pool_page).
        sa.Index("ix_customers_held_expires", sa.text(HELD_EXPIRES_ON),
                 postgresql_where=sa.text("status = 1 AND consultant_id IS NOT NULL")),
    )

    def __str__(self) -> str:
        return f"{self.name} (QQ {self.qq})"


class CustomerDistribution(db.Model):
    """One holding of a lead by a consultant (S-2); closed exactly once."""

    __tablename__ = "customer_distributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    consultant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    started_on: Mapped[dt.date]
    ended_on: Mapped[dt.date | None]
    status: Mapped[int] = mapped_column(StatusCode, default=choices.FOLLOWING)
    origin: Mapped[str] = mapped_column(sa.String(16))
    memo: Mapped[str | None] = mapped_column(sa.String(255))
    # The reclaim run that closed this holding (S-15): its summary e-mail links to exactly these rows.
    reclaim_run: Mapped[str | None] = mapped_column(sa.String(32))

    customer: Mapped[Customer] = relationship()
    consultant: Mapped[User] = relationship()

    __table_args__ = (
        sa.CheckConstraint("status in (1, 2, 3, 4)", name="status"),
        sa.CheckConstraint("(status = 1) = (ended_on IS NULL)", name="open_iff_following"),
        # At most one open holding per lead: the database settles grab races.
        sa.Index(
            "uq_customer_distributions_open", "customer_id", unique=True,
            postgresql_where=sa.text("status = 1"), sqlite_where=sa.text("status = 1"),
        ),
        sa.Index("ix_customer_distributions_consultant_status", "consultant_id", "status"),
        # Only closed-by-a-reclaim rows are indexed (issue14_0002): open holdings, written by the
        # thousand by an import, add no entry.
        sa.Index("ix_customer_distributions_reclaim_run", "reclaim_run",
                 postgresql_where=sa.text("reclaim_run IS NOT NULL"), sqlite_where=sa.text("reclaim_run IS NOT NULL")),
    )


class SaleRank(db.Model):
    """A consultant's row in the allocation table (S-3)."""

    __tablename__ = "sale_ranks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    num: Mapped[int] = mapped_column(default=1)
    weight: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    on_leave_until: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("num >= 1", name="num_positive"),
        sa.CheckConstraint("num <= 1000", name="num_bounded"),
    )


class ConsultRecord(db.Model):
    """A follow-up (跟进记录) on a lead (S-4, S-13)."""

    __tablename__ = "consult_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"))
    consultant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    date: Mapped[dt.date]
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    consultant: Mapped[User] = relationship()

    __table_args__ = (sa.Index("ix_consult_records_customer_date", "customer_id", "date"),)


class PaymentRecord(db.Model):
    """A payment (缴费记录), money in whole yuan (S-4)."""

    __tablename__ = "payment_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id", ondelete="RESTRICT"), index=True)
    class_id: Mapped[int | None] = mapped_column(sa.ForeignKey("classes.id", ondelete="RESTRICT"), index=True)
    pay_type: Mapped[int] = mapped_column(sa.SmallInteger)
    paid_amount: Mapped[int] = mapped_column(default=0)
    deal_amount: Mapped[int | None]
    quoted_amount: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(sa.Text)
    date: Mapped[dt.date] = mapped_column(index=True)
    consultant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    customer: Mapped[Customer] = relationship()
    class_list: Mapped[ClassList | None] = relationship()
    consultant: Mapped[User] = relationship(foreign_keys=[consultant_id])

    __table_args__ = (
        sa.CheckConstraint("pay_type between 1 and 5", name="pay_type"),
        sa.CheckConstraint("paid_amount >= 0", name="paid_not_negative"),
        sa.CheckConstraint("deal_amount IS NULL OR deal_amount >= 0", name="deal_not_negative"),
        sa.CheckConstraint("quoted_amount IS NULL OR quoted_amount >= 0", name="quote_not_negative"),
    )


class ImportJob(db.Model):
    """An Excel lead import (S-9): file, progress and outcome."""

    __tablename__ = "import_jobs"

    STATUSES = ("queued", "running", "done", "failed")

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    stored_path: Mapped[str] = mapped_column(sa.String(512))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)  # rows committed so far: the resume point
    imported: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    unassigned: Mapped[int] = mapped_column(default=0)
    error_path: Mapped[str | None] = mapped_column(sa.String(512))
    message: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The preview's choices, so the job reads exactly what the preview showed.
    sheet_name: Mapped[str | None] = mapped_column(sa.String(255))
    header_row: Mapped[int | None]
    column_keys: Mapped[str | None] = mapped_column(sa.Text)  # JSON: column key (or null) per position
    # Written with every batch: a running job whose heartbeat is stale lost its worker (resume_stalled_imports).
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
    )


class ImportRowError(db.Model):
    """A rejected row of an import, with its original values and the reason (S-9)."""

    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))  # invalid, duplicate
    values: Mapped[str] = mapped_column(sa.Text)  # JSON list of the original cell values
    reason: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("job_id", "row_number"),)


# The lead a student came from. Declared here, by the area that depends on students, so
# crm.students (and teaching and surveys, which use it) never need the sales tables.
Student.customer = relationship(Customer)

