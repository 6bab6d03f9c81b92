"""16.1 with real processes: a worker SIGKILLed mid-import; a new worker and the heartbeat sweep, run by a real
beat process (the test calls no sweeper), finish the job within the stall time (not the broker's hour), every
row imported exactly once."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales.imports import tasks as import_tasks
from crm.sales.models import Customer, ImportJob
from tests.faults.test_email_faults import BeatProcess, WorkerProcess, wait_for, worker_env
from tests.sales.import_support import lead_row, new_job
from tests.smtp_fixtures import free_port

ROWS = 300
STALL_SECONDS = 10


def job_state(job_id: int) -> tuple[str, int]:
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    state = (job.status, job.processed_rows)
    db.session.rollback()
    return state


@pytest.mark.committing
def test_a_worker_killed_mid_import_is_replaced_and_the_job_resumes(app, build_app, clean_database, private_redis,
                                                                    database_url, redis_prefix, tmp_path,
                                                                    fault_trial, fault_report):
    imports = tmp_path / "imports"
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url, CRM_IMPORT_DIR=str(imports),
                      CRM_IMPORT_STALL_SECONDS=STALL_SECONDS)
    env = worker_env(database_url, private_redis.url, free_port(), redis_prefix, CRM_IMPORT_DIR=str(imports),
                     CRM_IMPORT_BATCH_SIZE="20", CRM_IMPORT_BATCH_PAUSE_MS="250",
                     CRM_IMPORT_STALL_SECONDS=str(STALL_SECONDS))
    first = WorkerProcess(tmp_path / "first.log", **env)
    beat = BeatProcess(tmp_path / "beat.log", **env)
    second = None
    try:
        with other.app_context():
            rows = [lead_row() for _ in range(ROWS)]
            job_id = new_job(tmp_path, rows).id
            import_tasks.enqueue_import(job_id)
            wait_for(lambda: job_state(job_id)[1] >= 60, 40, what="the first batches")
            first.process.kill()  # SIGKILL mid-import: its task stays unacknowledged in Redis
            first.process.wait(timeout=10)
            status, at_kill = job_state(job_id)
            assert status == "running" and at_kill < ROWS
            killed_at = time.monotonic()
            second = WorkerProcess(tmp_path / "second.log", **env)

            wait_for(lambda: job_state(job_id)[0] == "done", STALL_SECONDS + 35, step=0.5,
                     what="the import resumed by beat's sweep and finished")
            resumed_after = time.monotonic() - killed_at
            qqs = [row["qq"] for row in rows]
            stored = db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(Customer.qq.in_(qqs)))
            job = db.session.get(ImportJob, job_id)
            fault_report(items=ROWS, lost=ROWS - stored, doubled=max(0, job.imported - ROWS), server_errors=0)
            assert (job.processed_rows, job.imported, stored) == (ROWS, ROWS, ROWS)
            assert resumed_after < STALL_SECONDS + 35
            db.session.rollback()
        assert f"import job {job_id} had no heartbeat" in second.output()  # the sweep beat sent re-queued it
        assert beat.alive() and beat.sent("crm.sales.resume_stalled_imports") >= 2, beat.output()[-3000:]
    finally:
        beat.stop()
        first.stop()
        if second is not None:
            second.stop()
