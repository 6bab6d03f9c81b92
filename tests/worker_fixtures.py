"""Fixtures that run a real Celery worker against real Redis.

Several test sessions (and developers) share one Redis server; every
session's app has a Redis prefix of its own, and so a queue of its own;
a worker started here consumes only that queue and never steals another
session's tasks. Use `celery_worker` with `@pytest.mark.committing` tests:
the worker runs in another thread with its own database session, so it only
sees committed rows.
"""
from __future__ import annotations

import pytest

from crm.celery_app import queue_keys, queue_name


@pytest.fixture(scope="session", autouse=True)
def celery_session_queue(app, redis_prefix):
    """This session's queue (the app's, named after its Redis prefix); its keys are deleted at the end."""
    queue = queue_name(redis_prefix)
    assert app.extensions["celery"].conf.task_default_queue == queue
    yield queue
    drop_queue(app, queue)


def drop_queue(app, queue: str, *, bindings: bool = True) -> None:
    """Delete a queue's messages (and, at the end of the session, its bindings) from Redis."""
    client = app.extensions["crm_redis"]
    client.delete(*queue_keys(client, queue, bindings=bindings))


@pytest.fixture(autouse=True)
def session_celery_is_current(app):
    """Make the session app's Celery current again before each test.

    Every `create_app()` (tests that build a second app) makes its own Celery
    app current and default, and `@shared_task` proxies resolve through that:
    without this, later tests would send tasks with the other app's settings
    (wrong queue) and run them in the other app's context (other engine).
    """
    celery_app = app.extensions["celery"]
    celery_app.set_current()
    celery_app.set_default()
    yield


@pytest.fixture
def celery_worker(app, celery_session_queue):
    """A real Celery worker (in a thread, solo pool) consuming this session's queue."""
    from celery.contrib.testing.worker import start_worker

    celery_app = app.extensions["celery"]
    celery_app.loader.import_default_modules()  # the task modules the areas registered
    # Tasks queued by earlier tests that ran no worker refer to rows their clean-up removed; run
    # now, they would only compete with this test for the database.
    drop_queue(app, celery_session_queue, bindings=False)
    with start_worker(
        celery_app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[celery_session_queue],
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker
