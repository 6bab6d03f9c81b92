"""The import job's work: stream the sheet, and per batch validate, dedupe, allocate and save in one transaction.

A batch's transaction first claims its rows by a conditional update of the job's
`processed_rows`, so two runners of one job never both save a batch and a
restarted job resumes exactly where the last committed batch ended (S-9).
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, OperationalError

from crm.core import audit, clock, uow
from crm.core.copy_text import copy_text
from crm.extensions import db, on_postgresql
from crm.sales import choices
from crm.sales.imports.columns import setting
from crm.sales.imports.feed import IDENTITY_FIELDS, LEAD_KEYS, Batch, ParsedRow, parsed_batches
from crm.sales.imports.read_ahead import forking_available, read_ahead
from crm.sales.imports.report import write_error_workbook
from crm.sales.imports.rows import RowParser
from crm.sales.imports.summary import allocated_counts, queue_summaries
from crm.sales.imports.workbook import SheetInfo, error_workbook_path
from crm.sales.models import Customer, CustomerDistribution, ImportJob, ImportRowError, customer_courses

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def import_memo(job_id: int) -> str:
    """The history-row memo that ties imported leads to their job."""
    return f"{choices.ORIGIN[choices.ORIGIN_IMPORT]} #{job_id}"


BATCH_ATTEMPTS = 3  # deadlocks / "database is locked" are retried a few times, then the task retries


def key_in(column, values) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter instead of hundreds."""
    values = list(values)
    if on_postgresql():
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def bulk_insert(table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows (dicts with the same keys) in one go; see `insert_tuples`."""
    if rows:
        names = list(rows[0])
        insert_tuples(table, names, [[row[name] for name in names] for row in rows])


def insert_tuples(table: sa.Table, names: list[str], rows: list) -> None:
    """Insert rows given as value sequences in the order of `names`: COPY on PostgreSQL (the rows stream in
    the server's text format), else executemany.

    A COPY that breaks a unique constraint raises sqlalchemy's IntegrityError, like an INSERT.
    """
    if not rows:
        return
    if not on_postgresql():
        db.session.execute(sa.insert(table), [dict(zip(names, row)) for row in rows])
        return
    with copy_into(table, names) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def insert_text(table: sa.Table, names: list[str], text: str) -> None:
    """COPY rows already in PostgreSQL's text format (crm.core.copy_text; one line each) into `table`."""
    if text:
        with copy_into(table, names) as copy:
            copy.write(text.encode())


@contextlib.contextmanager
def copy_into(table: sa.Table, names: list[str]):
    """A psycopg COPY ... FROM STDIN into `table`'s `names`, in the session's transaction (and savepoint).

    A row that breaks a unique constraint raises sqlalchemy's IntegrityError, like an INSERT.
    """
    import psycopg
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in names))
    connection = db.session.connection()
    try:
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            yield copy
    except psycopg.errors.IntegrityError as error:
        raise IntegrityError(str(statement), None, error) from error


def next_ids(table: sa.Table, count: int) -> list[int]:
    """`count` fresh ids from a PostgreSQL table's id sequence, so rows can be copied with their ids known."""
    connection = db.session.connection()  # in the session's transaction
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       (table.name, count))
        return [new_id for (new_id,) in cursor.fetchall()]


class ImportRunner:
    """Streams one job's sheet and commits it batch by batch."""

    def __init__(self, job: ImportJob, info: SheetInfo, progress: Progress | None):
        # Plain values only: touching the (expired) ORM object between batches would start a
        # read transaction, which SQLite cannot always upgrade to a write one.
        self.job_id = job.id
        self.actor_id = job.created_by_id
        self.path = Path(job.stored_path)
        self.processed = job.processed_rows
        self.total = job.total_rows  # rows with values, counted when the job was created
        self.info = info
        self.progress = progress
        self.today = clock.today()
        self.batch_size = max(1, setting("CRM_IMPORT_BATCH_SIZE"))
        self.pause = setting("CRM_IMPORT_BATCH_PAUSE_MS") / 1000
        self.parser = RowParser(info.keys, self.today)
        self.width = len(info.headers)
        # Per identity field: value -> the row number of the accepted row that has it (the file's index).
        self.seen: dict[str, dict[str, int]] = {field: {} for field in IDENTITY_FIELDS}
        self.added: list[tuple[str, str]] = []  # (field, value) the batch being committed put in `seen`
        self.memo = import_memo(job.id)

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> bool:
        """Process every row after the resume point; False when another runner owns the job.

        The job's `processed_rows` counts rows that hold a value (blank rows between them are
        neither counted nor imported), so it is also where a restarted run resumes. The rows come
        read and checked in batches (crm.sales.imports.feed.parsed_batches).
        """
        resume_at = self.processed
        rejected = set()
        if resume_at:
            rejected = set(db.session.scalars(
                sa.select(ImportRowError.row_number).where(ImportRowError.job_id == self.job_id)))
        db.session.commit()  # end the read transaction before the first batch writes

        def produce():
            return parsed_batches(self.path, self.info, self.parser, self.batch_size, resume_at, rejected)

        # More than one batch to go: read the next while this one is saved (crm.sales.imports.read_ahead).
        ahead = setting("CRM_IMPORT_READ_AHEAD") and forking_available() and self.total - resume_at > self.batch_size
        batches = read_ahead(produce, self.width) if ahead else produce()
        with contextlib.closing(batches) as items:
            for batch in items:
                for number, identity in batch.remember:  # rows a previous run already imported
                    for field, value in identity.items():
                        self.seen[field].setdefault(value, number)
                if batch.count and not self.commit_batch(batch):
                    return False
        return True

    # -- one batch ----------------------------------------------------------------------------
    def commit_batch(self, batch: Batch) -> bool:
        """Validate, dedupe, allocate and save one batch in one transaction (retried on deadlock)."""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            self.added = []
            try:
                return self._commit_batch(batch)
            except OperationalError:
                db.session.rollback()
                for field, value in self.added:  # this attempt's rows are not in the file's index after all
                    self.seen[field].pop(value, None)
                if attempt == BATCH_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        return False

    def _commit_batch(self, batch: Batch) -> bool:
        end = self.processed + batch.count  # the batch holds the next rows with values, in order
        # The claim: this transaction owns rows (processed, end] or someone else already did them.
        claimed = db.session.execute(
            sa.update(ImportJob).where(ImportJob.id == self.job_id, ImportJob.processed_rows == self.processed)
            .values(processed_rows=end, heartbeat_at=clock.utcnow())
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            log.info("import job %s: another runner is ahead of row %s; stopping", self.job_id, end)
            return False
        if on_postgresql():
            # Every statement of a batch is a keyed lookup or insert. A bulk load makes the
            # table's statistics stale (autovacuum analyzes late, or never when it is off), and
            # the planner then scans the whole table for each IN list; keep it on the indexes.
            db.session.execute(sa.text("SELECT set_config('enable_seqscan', 'off', true)"))

        errors: list[tuple[int, str, str, str]] = []  # row number, kind, reason, cells as JSON
        accepted: list[ParsedRow] = []
        existing = self._existing_identities([row for row in batch.rows if row.lead is not None])
        # Row by row, in file order: a row is repeated only if an earlier row was accepted with the same
        # key (`seen` holds accepted rows only), so the outcome does not depend on the batch size.
        seen, added = self.seen, self.added
        for row in batch.rows:
            number = row.number
            if row.lead is None:
                errors.append((number, "invalid", row.error, row.cells_json(self.width)))
                continue
            keys = row.keys
            reason = self._repeated_in_file(keys)
            if reason is None:
                clash = next((key for key in keys if key in existing), None)
                if clash:
                    reason = self._exists_reason(*clash)
            if reason is not None:
                errors.append((number, "duplicate", reason, row.cells_json(self.width)))
                continue
            referrer = row.referrer
            if referrer and ("qq", referrer) not in existing and referrer not in seen["qq"]:
                errors.append((number, "invalid", _(
                    "Referred by (QQ) %(qq)s is not the QQ of an existing lead or of an earlier row.", qq=referrer),
                    row.cells_json(self.width)))
                continue
            for field, value in keys:
                seen[field][value] = number
            added.extend(keys)
            accepted.append(row)

        from crm.sales.allocation import allocate_or_pool, return_slots

        slots = allocate_or_pool(len(accepted)) if accepted else []
        # Nothing of this batch saved: nobody loses a turn (S-6).
        uow.after_rollback(lambda: return_slots(slots))
        lost = self._insert(accepted, slots)
        for index in lost:
            row = accepted[index]
            reason = self._exists_reason(*row.keys[0])
            errors.append((row.number, "duplicate", reason, row.cells_json(self.width)))
        bulk_insert(ImportRowError.__table__, [
            {"job_id": self.job_id, "row_number": number, "kind": kind, "values": cells, "reason": reason}
            for number, kind, reason, cells in errors
        ])
        saved = [slots[i] for i in range(len(accepted)) if i not in lost]
        db.session.execute(
            sa.update(ImportJob).where(ImportJob.id == self.job_id).values(
                imported=ImportJob.imported + len(saved),
                unassigned=ImportJob.unassigned + sum(1 for slot in saved if slot is None),
                duplicates=ImportJob.duplicates + sum(1 for e in errors if e[1] == "duplicate"),
                invalid=ImportJob.invalid + sum(1 for e in errors if e[1] == "invalid"),
            )
        )
        uow.commit()
        if lost:
            return_slots([slots[i] for i in sorted(lost)])
        self.processed = end
        if self.progress:
            self.progress(end, self.total)
        if self.pause:
            time.sleep(self.pause)
        return True

    def _repeated_in_file(self, keys: list[tuple[str, str]]) -> str | None:
        for field, value in keys:
            first = self.seen[field].get(value)
            if first is not None:
                return _("%(field)s %(value)s is repeated in this file (first on row %(row)s).",
                         field=field_label(field), value=value, row=first)
        return None

    @staticmethod
    def _exists_reason(field: str, value: str) -> str:
        return _("A lead with %(field)s %(value)s already exists.", field=field_label(field), value=value)

    @staticmethod
    def _existing_identities(rows: list[ParsedRow]) -> set[tuple[str, str]]:
        """(field, value) of the rows' QQs, phones, e-mails and referrer QQs that a lead already has.

        One round trip for the batch: a UNION ALL of one keyed lookup per field.
        """
        wanted: dict[str, set[str]] = {field: set() for field in IDENTITY_FIELDS}
        for row in rows:
            for field, value in row.keys:
                wanted[field].add(value)
            if row.referrer:
                wanted["qq"].add(row.referrer)
        lookups = [
            sa.select(sa.literal(field).label("field"), getattr(Customer, field).label("value"))
            .where(key_in(getattr(Customer, field), values))
            for field, values in wanted.items() if values
        ]
        if not lookups:
            return set()
        statement = lookups[0] if len(lookups) == 1 else sa.union_all(*lookups)
        return {(field, value) for field, value in db.session.execute(statement)}

    # -- writing ------------------------------------------------------------------------------
    def _insert(self, accepted, slots) -> set[int]:
        """Insert the accepted rows; returns the indexes that lost a uniqueness race."""
        if not accepted:
            return set()
        # The same key order in every import keeps two concurrent imports from deadlocking.
        order = sorted(range(len(accepted)), key=lambda i: accepted[i].lead[0])  # by QQ
        try:
            with db.session.begin_nested():
                self._insert_rows([(accepted[i], slots[i]) for i in order])
            return set()
        except IntegrityError:
            pass
        lost = set()
        for i in order:
            try:
                with db.session.begin_nested():
                    self._insert_rows([(accepted[i], slots[i])])
            except IntegrityError:
                lost.add(i)
        return lost

    CUSTOMER_COLUMNS = [  # what an imported lead's row is written with (the rest are NULL or set later)
        *LEAD_KEYS, "consultant_id", "received_on", "last_follow_up_on", "pool_reason", "pool_since", "status",
        "channel", "created_by_id", "created_at"]

    def _insert_rows(self, pairs: list[tuple[ParsedRow, int | None]]) -> None:
        table = Customer.__table__
        today, constant = self.today, [choices.NOT_ENROLLED, "import", self.actor_id, clock.utcnow()]
        assigned, unassigned = [today, today, None, None], [None, None, choices.POOL_UNASSIGNED, today]
        names = self.CUSTOMER_COLUMNS
        opened = (self.today, choices.FOLLOWING, choices.ORIGIN_IMPORT, self.memo)
        history_names = ["customer_id", "consultant_id", "started_on", "status", "origin", "memo"]
        if on_postgresql():
            # Ids first, then one COPY per table, its rows written as text here: each lead's own columns came
            # formatted from the reading process; what follows them depends only on its consultant.
            ids = next_ids(table, len(pairs))
            tails = {}
            for _row, consultant_id in pairs:
                if consultant_id not in tails:
                    tails[consultant_id] = copy_text(
                        [consultant_id, *(unassigned if consultant_id is None else assigned), *constant])
            insert_text(table, ["id", *names], "".join([
                f"{new_id}\t{row.copy_line()}\t{tails[consultant_id]}\n"
                for new_id, (row, consultant_id) in zip(ids, pairs)]))
            insert_text(customer_courses, ["customer_id", "course_id"], "".join([
                f"{cid}\t{course}\n" for cid, (row, _c) in zip(ids, pairs) for course in row.course_ids]))
            opened_text = copy_text(opened)
            insert_text(CustomerDistribution.__table__, history_names, "".join([
                f"{cid}\t{consultant_id}\t{opened_text}\n"
                for cid, (_r, consultant_id) in zip(ids, pairs) if consultant_id is not None]))
        else:  # executemany, then the ids by QQ (unique)
            rows = [row.lead + [consultant_id] + (unassigned if consultant_id is None else assigned) + constant
                    for row, consultant_id in pairs]
            insert_tuples(table, names, rows)
            id_by_qq = dict(db.session.execute(
                sa.select(table.c.qq, table.c.id).where(key_in(table.c.qq, [row[0] for row in rows]))).all())
            ids = [id_by_qq[row[0]] for row in rows]
            insert_tuples(customer_courses, ["customer_id", "course_id"],
                          [(cid, course) for cid, (row, _c) in zip(ids, pairs) for course in row.course_ids])
            insert_tuples(CustomerDistribution.__table__, history_names,
                          [(cid, consultant_id, *opened) for cid, (_r, consultant_id) in zip(ids, pairs)
                           if consultant_id is not None])
        referrers = {row.referrer for row, _c in pairs if row.referrer}
        if referrers:
            id_of = dict(db.session.execute(
                sa.select(table.c.qq, table.c.id).where(key_in(table.c.qq, referrers))).all())
            updates = [{"cid": cid, "rid": id_of[row.referrer]} for cid, (row, _c) in zip(ids, pairs)
                       if row.referrer in id_of]
            if updates:
                db.session.execute(
                    sa.update(table).where(table.c.id == sa.bindparam("cid"))
                    .values(referred_by_id=sa.bindparam("rid")).execution_options(synchronize_session=False),
                    updates,
                )

    # -- the end ------------------------------------------------------------------------------
    def finish(self) -> list[int]:
        """Mark the job done, write the error workbook, queue one summary e-mail per consultant."""
        # The write comes first in this transaction (SQLite: take the write lock before reading).
        done = db.session.execute(
            sa.update(ImportJob).where(ImportJob.id == self.job_id, ImportJob.status == "running").values(
                status="done", finished_at=clock.utcnow(), total_rows=self.processed)
        ).rowcount
        if done != 1:
            db.session.rollback()
            return []
        per_consultant = allocated_counts(self.memo)
        totals = db.session.execute(sa.select(ImportJob.imported, ImportJob.unassigned, ImportJob.duplicates,
                                              ImportJob.invalid).where(ImportJob.id == self.job_id)).one()
        # One audit row per import (P-6): who imported, and how many leads each consultant was allocated.
        audit.record(self.actor_id, "lead.import", "import_job", self.job_id, imported=totals.imported,
                     unassigned=totals.unassigned, duplicates=totals.duplicates, invalid=totals.invalid,
                     allocated={str(user_id): count for user_id, count in sorted(per_consultant.items())})
        ids = queue_summaries(self.job_id, self.memo, per_consultant)
        uow.commit()
        if self.progress:
            self.progress(self.processed, self.processed)
        if totals.invalid or totals.duplicates:
            # Written once the summary is out (the error page builds it itself if asked for it sooner).
            target = error_workbook_path(self.job_id)
            write_error_workbook(self.job_id, self.info.headers, target)
            db.session.commit()  # end the read first: SQLite cannot always upgrade a read transaction to a write one
            db.session.execute(sa.update(ImportJob).where(ImportJob.id == self.job_id).values(error_path=str(target)))
            db.session.commit()
        return ids


def field_label(field: str) -> str:
    """The name of an identity field in the current locale."""
    return {"qq": "QQ", "phone": _("phone"), "email": _("e-mail")}[field]
