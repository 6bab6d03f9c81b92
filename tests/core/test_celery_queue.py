"""Instances sharing a Redis database keep to their own Celery queue, named after CRM_REDIS_PREFIX."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crm.celery_app import queue_name
from tests.worker_fixtures import drop_queue

ROOT = Path(__file__).resolve().parents[2]


def test_each_prefix_has_its_own_queue_and_a_task_goes_to_its_instances_queue(app, build_app, redis_prefix):
    other_prefix = f"{redis_prefix}-other"
    other = build_app(CRM_REDIS_PREFIX=other_prefix)
    ours, theirs = app.extensions["celery"], other.extensions["celery"]
    assert ours.conf.task_default_queue == f"{redis_prefix}-celery"
    assert theirs.conf.task_default_queue == f"{other_prefix}-celery"
    # What a worker started without -Q consumes: the default queue alone.
    assert list(theirs.amqp.queues) == [f"{other_prefix}-celery"]

    client = app.extensions["crm_redis"]
    before_shared = client.llen("celery")
    before_ours = client.llen(queue_name(redis_prefix))
    try:
        theirs.send_task("crm.tests.not_a_task", args=[1])
        assert client.llen(queue_name(other_prefix)) == 1
        assert client.llen(queue_name(redis_prefix)) == before_ours  # never in this session's queue
        assert client.llen("celery") == before_shared  # nor in Celery's default one
    finally:
        drop_queue(other, queue_name(other_prefix))


def test_the_worker_module_configured_by_the_environment_consumes_its_prefixs_queue(database_url, redis_url,
                                                                                     redis_prefix):
    """`celery -A worker worker` (make run, the Procfile) builds the app from the environment."""
    env = dict(os.environ, CRM_ENV="testing", SECRET_KEY="queue-test", DATABASE_URL=database_url,
               REDIS_URL=redis_url, CRM_REDIS_PREFIX=f"{redis_prefix}-env")
    code = "import worker; print(*worker.celery_app.amqp.queues); print(worker.celery_app.conf.task_default_queue)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [f"{redis_prefix}-env-celery"] * 2
