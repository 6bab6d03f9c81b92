"""Celery bound to the Flask app: every task runs inside an application context."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def queue_name(redis_prefix: str) -> str:
    """The Celery queue of an instance: named after its Redis key prefix (CRM_REDIS_PREFIX)."""
    return f"{redis_prefix}-celery"


def queue_keys(client, queue: str, *, bindings: bool = True) -> list:
    """Every Redis key kombu keeps for a queue whose exchange has its name (Celery's default queue).

    A list per queue and one per priority level ("<queue>\x06\x16<n>"); with `bindings`, the
    exchange's binding set and the set that marks it permanent (kombu 5.7). kombu's shared
    bookkeeping (`_kombu.binding_deadlines`, the pidbox's) is left to kombu.
    """
    keys = [queue, *client.scan_iter(f"{queue}\x06\x16*")]
    if bindings:
        keys += [f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    return keys


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for this Flask app and store it in app.extensions."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object("celeryconfig")
    from crm.core.areas import beat_schedule, task_modules

    # The areas' task modules and periodic jobs (crm.core.areas), on top of the static settings.
    celery_app.conf.imports = tuple(task_modules(app))
    celery_app.conf.beat_schedule = {**(celery_app.conf.beat_schedule or {}), **beat_schedule(app)}
    celery_app.conf.broker_url = app.config["CELERY_BROKER_URL"]
    if app.config["CELERY_BROKER_URL"].startswith(("redis://", "rediss://")):
        from crm.broker import TRANSPORT

        # kombu's Redis transport with a guard that keeps the worker alive when Redis dies (see crm.broker).
        celery_app.conf.broker_transport = TRANSPORT
    celery_app.conf.timezone = app.config["CRM_TIMEZONE"]
    # Instances sharing a Redis database (each with its own CRM_REDIS_PREFIX) never take each other's
    # tasks: each sends to, and its worker and beat use, the queue named after its prefix.
    celery_app.conf.task_default_queue = queue_name(app.config["CRM_REDIS_PREFIX"])
    overrides = app.config.get("CELERY_OVERRIDES") or {}
    if overrides:
        celery_app.conf.update(overrides)
    celery_app.set_default()
    _structured_worker_logs(app.config["CRM_LOG_FORMAT"])
    app.extensions["celery"] = celery_app
    return celery_app


def _structured_worker_logs(log_format: str) -> None:
    """The worker's and beat's log handlers get the request (task) id and the JSON/text format (crm.core.logs)."""
    from celery import signals

    from crm.core.logs import configure_handler, init_task_request_ids

    init_task_request_ids()  # a task queued during a request logs with that request's id
    def configure(logger=None, **_kwargs):
        for handler in (logger.handlers if logger is not None else []):
            configure_handler(handler, log_format)

    signals.after_setup_logger.connect(configure, weak=False, dispatch_uid="crm-structured-logs")
    signals.after_setup_task_logger.connect(configure, weak=False, dispatch_uid="crm-structured-task-logs")
