"""The background Excel lead import (S-9): resumable batches, allocation (S-5/S-6), summary e-mails.

Exactness rests on one rule: each batch's leads, history rows, rejected rows and
the job's `processed_rows` are written in ONE transaction, which starts with a
conditional UPDATE (`processed_rows = old -> new`). A worker killed mid-file
leaves the database at a batch boundary, and the redelivered task resumes from
`processed_rows`; two runners of the same job can never both commit a batch.
Between different imports, the unique constraints on customers.qq/phone/email
decide who imports a lead; a batch that loses a race retries row by row inside
savepoints and counts the losers as duplicates.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from celery import shared_task
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError

from crm.core import clock
from crm.core.collector import few_collections
from crm.core.errors import DomainError
from crm.extensions import db
from crm.sales.imports.runner import ImportRunner, Progress
from crm.sales.imports.workbook import job_choices, job_workbook
from crm.sales.models import ImportJob

log = logging.getLogger(__name__)

TASK_NAME = "crm.sales.import_leads"
@shared_task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, max_retries=5)
def import_leads_task(self, job_id: int) -> None:
    """Run or resume import job `job_id`; a repeated delivery finishes it without doubling rows."""
    try:
        run_import(int(job_id))
    except OperationalError as error:  # the database went away: resume later from processed_rows
        db.session.rollback()
        if self.request.retries >= self.max_retries:
            fail_job(int(job_id), _("The database was unavailable; the import stopped. Upload the file again."))
            raise
        raise self.retry(exc=error, countdown=min(300, 5 * 2 ** self.request.retries))


RESUME_TASK_NAME = "crm.sales.resume_stalled_imports"


@shared_task(name=RESUME_TASK_NAME, ignore_result=True)
def resume_stalled_imports() -> int:
    """Re-queue queued/running jobs whose heartbeat is older than CRM_IMPORT_STALL_SECONDS (beat, every minute).

    A worker killed mid-import leaves its task unacknowledged in Redis until the broker's visibility
    timeout (an hour); this brings the job back within minutes, resuming from processed_rows. The
    heartbeat is renewed by the same conditional UPDATE that picks the job, so one sweep re-queues it
    once; should the old runner still be alive, the batch claim on processed_rows lets only one of the
    two commit each batch and the other stops.
    """
    now = clock.utcnow()
    stale = now - dt.timedelta(seconds=int(current_app.config["CRM_IMPORT_STALL_SECONDS"]))
    last_sign = sa.func.coalesce(ImportJob.heartbeat_at, ImportJob.created_at)
    candidates = list(db.session.scalars(
        sa.select(ImportJob.id).where(ImportJob.status.in_(("queued", "running")), last_sign < stale)
        .order_by(ImportJob.id)
    ))
    picked = []
    for job_id in candidates:
        taken = db.session.execute(
            sa.update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")), last_sign < stale)
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if taken:
            picked.append(job_id)
    for job_id in picked:
        try:
            enqueue_import(job_id)
            log.warning("import job %s had no heartbeat since %s; re-queued to resume", job_id, stale)
        except Exception:  # noqa: BLE001 - broker down: the next sweep tries again once the heartbeat is stale
            log.warning("could not re-queue stalled import job %s", job_id, exc_info=True)
    return len(picked)


def enqueue_import(job_id: int) -> None:
    """Queue the import task (call only after the job row is committed)."""
    import_leads_task.delay(job_id)


def fail_job(job_id: int, message: str) -> None:
    """Mark a job failed with a message (commits)."""
    db.session.rollback()
    db.session.execute(
        sa.update(ImportJob).where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")))
        .values(status="failed", message=message, finished_at=clock.utcnow())
    )
    db.session.commit()


def run_import(job_id: int, *, progress: Progress | None = None) -> ImportJob | None:
    """Process a job from its resume point to the end; commits per batch (e-mails leave after the last)."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        log.warning("import job %s does not exist; nothing to do", job_id)
        return None
    if job.status in ("done", "failed"):
        return job
    choices = job_choices(job)
    db.session.commit()  # end the read; SQLite cannot always upgrade a read transaction to a write one
    try:
        info = job_workbook(choices)
    except DomainError as error:
        fail_job(job_id, error.message)
        return db.session.get(ImportJob, job_id)
    except OSError:
        fail_job(job_id, _("The uploaded file is no longer on the server; upload it again."))
        return db.session.get(ImportJob, job_id)
    started = db.session.execute(
        sa.update(ImportJob).where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")))
        .values(status="running", heartbeat_at=clock.utcnow())
    ).rowcount
    db.session.commit()
    if started != 1:
        return db.session.get(ImportJob, job_id)
    job = db.session.get(ImportJob, job_id)
    runner = ImportRunner(job, info, progress)
    try:
        with few_collections():
            finished = runner.run()
            if finished:
                runner.finish()
    except OperationalError:
        db.session.rollback()
        raise
    except Exception:
        log.exception("import job %s failed", job_id)
        fail_job(job_id, _("The import stopped unexpectedly after %(rows)s rows; rows up to there were "
                           "saved.", rows=runner.processed))
        return db.session.get(ImportJob, job_id)
    return db.session.get(ImportJob, job_id)
