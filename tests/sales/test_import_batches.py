"""The import's rows in batches: the same result whatever the batch size, exact resume, failures stop cleanly."""
from __future__ import annotations

import os
import signal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from crm.extensions import db
from crm.sales import allocation
from crm.sales.imports import feed, read_ahead
from crm.sales.imports.runner import ImportRunner
from crm.sales.imports.tasks import run_import
from crm.sales.imports.template import EXAMPLE
from crm.sales.models import Customer, CustomerDistribution, ImportJob, ImportRowError, SaleRank, customer_courses
from tests.factories import make_course, make_user
from tests.sales.import_support import lead_row, new_job, next_qq
from tests.sales.lead_factories import make_lead

pytestmark = pytest.mark.usefixtures("import_folder")


def consultants(count: int) -> list[int]:
    ids = []
    for n in range(count):
        user = make_user("consultant", email=f"feed{n}@example.com")
        db.session.add(SaleRank(user_id=user.id, weight=n + 1, num=2))
        ids.append(user.id)
    db.session.commit()
    allocation.mark_table_changed()
    return ids


def mixed_rows() -> list[dict | None]:
    """Valid rows with invalid ones, repeats inside the file and of the database, referrers, blanks, the example."""
    make_course("Python 全栈开发")
    make_lead(qq="88888888", phone="13900000001")
    rows: list[dict | None] = []
    for n in range(40):
        row = lead_row(name=f"学员{n}", courses="Python 全栈开发" if n % 4 == 0 else None,
                       phone=f"137{n:08d}" if n % 3 == 0 else None)
        if n % 9 == 4:
            row["gender"] = "?"  # invalid
        rows.append(row)
    rows[10]["qq"] = rows[2]["qq"]  # repeated in the file (an earlier valid row)
    rows[14]["qq"] = rows[4]["qq"]  # a copy of an invalid row: imported
    rows[15]["qq"] = "88888888"  # already in the database
    rows[20]["phone"] = "13900000001"  # the database's phone
    rows[21]["referrer_qq"] = rows[1]["qq"]  # an earlier row
    rows[23]["referrer_qq"] = rows[30]["qq"]  # a later row: refused
    rows[32]["qq"] = rows[15]["qq"]  # a copy of a database duplicate: still a duplicate
    rows[33]["qq"] = rows[23]["qq"]  # a copy of a refused referral: imported
    rows[26]["referrer_qq"] = "88888888"  # an existing lead
    for position in (5, 6, 19, 35):
        rows.insert(position, None)  # blank rows
    rows.insert(8, dict(EXAMPLE))  # the template's example row, left in
    return rows


def outcome(job_id: int) -> tuple:
    """Everything an import decided, comparable between runs."""
    job = db.session.get(ImportJob, job_id)
    leads = db.session.execute(
        sa.select(Customer.qq, Customer.name, Customer.phone, Customer.consultant_id, Customer.referred_by_id)
        .where(Customer.channel == "import").order_by(Customer.qq)).all()
    qq_of = dict(db.session.execute(sa.select(Customer.id, Customer.qq)).all())
    courses = db.session.execute(
        sa.select(Customer.qq, customer_courses.c.course_id).join(customer_courses)
        .where(Customer.channel == "import").order_by(Customer.qq)).all()
    errors = db.session.execute(sa.select(ImportRowError.row_number, ImportRowError.kind, ImportRowError.reason)
                                .where(ImportRowError.job_id == job_id).order_by(ImportRowError.row_number)).all()
    counts = (job.status, job.processed_rows, job.total_rows, job.imported, job.duplicates, job.invalid,
              job.unassigned)
    return counts, [(qq, name, phone, consultant, qq_of.get(referrer)) for qq, name, phone, consultant, referrer
                    in leads], courses, errors


def forget_import() -> None:
    """Remove the imported leads so the same file can be imported again from scratch."""
    imported = sa.select(Customer.id).where(Customer.channel == "import")
    db.session.execute(sa.delete(customer_courses).where(customer_courses.c.customer_id.in_(imported)))
    db.session.execute(sa.delete(CustomerDistribution).where(CustomerDistribution.customer_id.in_(imported)))
    db.session.execute(sa.update(Customer).where(Customer.channel == "import").values(referred_by_id=None))
    db.session.execute(sa.delete(Customer).where(Customer.channel == "import"))
    db.session.commit()
    allocation.reset_state()
    allocation.mark_table_changed()


def run(job_id: int) -> None:
    with force_locale("en"):
        run_import(job_id)
    db.session.expire_all()


def test_the_same_result_whatever_the_batch_size(app, tmp_path, monkeypatch):
    consultants(3)
    rows = mixed_rows()
    results = {}
    for batch in (1, 7, 500, 2000):
        monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", batch)
        job = new_job(tmp_path, rows, name=f"leads-{batch}.xlsx")
        run(job.id)
        counts, leads, courses, errors = outcome(job.id)
        results[batch] = (counts[1:], leads, courses, [error[1:] for error in errors])
        forget_import()
    first = results[1]
    (processed, total, imported, duplicates, invalid, unassigned), leads, courses, errors = first
    assert (processed, total, imported, duplicates, invalid, unassigned) == (40, 40, 31, 4, 5, 0)
    assert {kind for kind, _reason in errors} == {"duplicate", "invalid"}
    assert sum(1 for lead in leads if lead[4]) == 2  # an earlier row and an existing lead as referrers
    assert len(courses) == 7
    for key, result in results.items():
        assert result == first, key


def test_a_kill_between_batches_resumes_exactly(app, tmp_path, monkeypatch):
    """A batch read before the kill but not committed is not counted: the resume point is the last committed batch."""
    consultants(2)
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 7)
    rows = mixed_rows()
    reference = new_job(tmp_path, rows, name="reference.xlsx")
    run(reference.id)
    expected = outcome(reference.id)
    forget_import()

    job = new_job(tmp_path, rows)
    real = ImportRunner.commit_batch
    calls = {"n": 0}
    form_qq = next_qq()

    def killed_at_the_third(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:  # a lead entered by the form while the import runs: a later row has its QQ
            make_lead(qq=form_qq)
        if calls["n"] == 3:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing marks the job failed
        return real(self, batch)

    last_qq, rows[-1]["qq"] = rows[-1]["qq"], form_qq
    job = new_job(tmp_path, rows, name="killed.xlsx")
    monkeypatch.setattr(ImportRunner, "commit_batch", killed_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run(job.id)
    db.session.rollback()
    partial = db.session.get(ImportJob, job.id)
    assert (partial.status, partial.processed_rows) == ("running", 14)
    monkeypatch.setattr(ImportRunner, "commit_batch", real)
    run(job.id)
    counts, leads, courses, errors = outcome(job.id)
    want_counts, want_leads, want_courses, want_errors = expected
    assert counts == ("done", 40, 40, 30, 5, 5, 0)  # the last row now repeats the form's lead
    assert leads == [lead for lead in want_leads if lead[0] != last_qq]
    assert courses == want_courses and want_counts == ("done", 40, 40, 31, 4, 5, 0)
    assert errors[:-1] == want_errors and errors[-1][1:] == ("duplicate", f"A lead with QQ {form_qq} already exists.")


def small_job(app, tmp_path, monkeypatch, *, batch: int, rows: int) -> ImportJob:
    """A job of `rows` valid rows for one consultant, in batches of `batch`."""
    consultants(1)
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", batch)
    return new_job(tmp_path, [lead_row() for _ in range(rows)])


def after_three_rows(monkeypatch, happen) -> None:
    """Reading the sheet calls `happen()` after its third row (in the reading process, when there is one)."""
    real = feed.sheet_rows

    def sheet_rows(path, info):
        for count, row in enumerate(real(path, info)):
            if count == 3:
                happen()
            yield row

    monkeypatch.setattr(feed, "sheet_rows", sheet_rows)


def another_runner_gets_ahead(monkeypatch, at: int) -> None:
    """When the runner has saved `at` rows, another runner of the job claims the rows up to the fifth."""
    real = ImportRunner.commit_batch

    def commit_batch(self, batch):
        if self.processed == at:
            db.session.execute(sa.update(ImportJob).where(ImportJob.id == self.job_id).values(processed_rows=5))
            db.session.commit()
        return real(self, batch)

    monkeypatch.setattr(ImportRunner, "commit_batch", commit_batch)


def test_a_reading_error_fails_the_job_and_keeps_the_rows_before_it(app, tmp_path, monkeypatch):
    job = small_job(app, tmp_path, monkeypatch, batch=2, rows=6)

    def read_error():
        raise OSError("read error")

    after_three_rows(monkeypatch, read_error)
    run(job.id)
    failed = db.session.get(ImportJob, job.id)
    assert (failed.status, failed.processed_rows, failed.imported) == ("failed", 2, 2)
    assert "rows up to there were saved" in failed.message


def test_a_runner_that_loses_its_claim_stops(app, tmp_path, monkeypatch):
    job = small_job(app, tmp_path, monkeypatch, batch=1, rows=8)
    another_runner_gets_ahead(monkeypatch, at=2)
    run(job.id)
    stopped = db.session.get(ImportJob, job.id)
    assert (stopped.status, stopped.processed_rows, stopped.imported) == ("running", 5, 2)


@pytest.fixture
def forks(monkeypatch):
    """The pids of the reading processes forked (crm.sales.imports.read_ahead), in order."""
    pids = []
    real = os.fork

    def fork():
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(read_ahead.os, "fork", fork)
    return pids


def reaped(pid: int) -> bool:
    """Whether a child of this process has ended and been waited for (no zombie, no orphan left)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_reading_in_a_forked_process_gives_the_in_process_result(app, tmp_path, monkeypatch, forks):
    consultants(3)
    rows = mixed_rows()
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 7)
    results = {}
    for ahead in (False, True):
        monkeypatch.setitem(app.config, "CRM_IMPORT_READ_AHEAD", ahead)
        job = new_job(tmp_path, rows, name=f"leads-{ahead}.xlsx")
        run(job.id)
        counts, leads, courses, errors = outcome(job.id)
        cells = db.session.scalars(sa.select(ImportRowError.values).where(ImportRowError.job_id == job.id)
                                   .order_by(ImportRowError.row_number)).all()
        results[ahead] = (counts[1:], leads, courses, errors, cells)
        forget_import()
        assert len(forks) == (1 if ahead else 0)
    assert results[True] == results[False]
    assert results[True][0] == (40, 40, 31, 4, 5, 0)
    assert reaped(forks[0])


def test_a_single_batch_is_read_in_the_worker(app, tmp_path, monkeypatch, forks):
    job = small_job(app, tmp_path, monkeypatch, batch=10, rows=10)
    run(job.id)
    assert db.session.get(ImportJob, job.id).imported == 10
    assert forks == []


def test_a_reading_process_that_dies_fails_the_job_after_the_saved_batches(app, tmp_path, monkeypatch, forks):
    job = small_job(app, tmp_path, monkeypatch, batch=2, rows=6)
    after_three_rows(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGKILL))  # out of memory, say
    run(job.id)
    failed = db.session.get(ImportJob, job.id)
    assert (failed.status, failed.processed_rows, failed.imported) == ("failed", 2, 2)
    assert "rows up to there were saved" in failed.message
    assert len(forks) == 1 and reaped(forks[0])


def test_a_stop_signal_to_the_process_group_leaves_the_reading_to_the_worker(app, tmp_path, monkeypatch, forks):
    """Ctrl-C or a service stop reaches every process of the group: the worker's warm shutdown finishes the job,
    so the reading process must not die of it."""
    job = small_job(app, tmp_path, monkeypatch, batch=2, rows=6)

    def stop_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)

    after_three_rows(monkeypatch, stop_signals)
    run(job.id)
    done = db.session.get(ImportJob, job.id)
    assert (done.status, done.processed_rows, done.imported) == ("done", 6, 6)
    assert len(forks) == 1 and reaped(forks[0])


def test_a_runner_that_stops_early_ends_its_reading_process(app, tmp_path, monkeypatch, forks):
    job = small_job(app, tmp_path, monkeypatch, batch=1, rows=8)
    another_runner_gets_ahead(monkeypatch, at=1)
    run(job.id)
    assert db.session.get(ImportJob, job.id).imported == 1
    assert len(forks) == 1 and reaped(forks[0])


NASTY_TEXTS = ["tab\there", "two\nlines", "semi;colon,comma", "back\\slash", "\\N", "\\\\N\\t", "C:\\",
               "<script>alert(1)</script>", "引号\"'和 & 符号", "Ünïcödé 😀", " trailing tab\t", "x" * 500]


@pytest.mark.parametrize("ahead", [False, True])
def test_text_reaches_the_database_exactly(app, tmp_path, monkeypatch, forks, ahead):
    """Backslashes, tabs, line breaks and a literal \\N survive the bulk insert (COPY text on PostgreSQL), whether
    the reading process wrote the lead's text or the worker did."""
    consultants(1)
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 5)
    monkeypatch.setitem(app.config, "CRM_IMPORT_READ_AHEAD", ahead)
    rows = [lead_row(memo=text, company=text[:64], name=f"学员{n}") for n, text in enumerate(NASTY_TEXTS)]
    job = new_job(tmp_path, rows)
    run(job.id)
    assert db.session.get(ImportJob, job.id).imported == len(NASTY_TEXTS)
    stored = db.session.execute(sa.select(Customer.qq, Customer.memo, Customer.company)
                                .where(Customer.channel == "import")).all()
    assert {qq: (memo, company) for qq, memo, company in stored} == {
        row["qq"]: (row["memo"].strip(), row["company"].strip()) for row in rows}
    assert len(forks) == (1 if ahead else 0)
