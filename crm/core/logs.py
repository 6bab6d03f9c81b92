"""Structured logs: one JSON object per line with a request id, in the web and in the worker (16.6).

The web takes the id from a sane `X-Request-ID` header (set by the proxy) or makes one, and sends it
back in the response. A task queued during a request carries the request's id in a message header
(`crm_request_id`, added when the task is published, and passed on to the tasks and retries it
queues in turn), so the worker's lines for that task show the same id as the web's; a task started
by beat logs with its own task id. In a worker, JSON lines also name the task (`task_id`).
`CRM_LOG_FORMAT=text` gives the request id as plain text.
"""
from __future__ import annotations

import json
import logging
import re
import uuid

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


# The message header that carries the originating request's id into a Celery task.
TASK_HEADER = "crm_request_id"


def _task_context():
    """The running Celery task's request context, or None (outside a task)."""
    from celery import current_task

    if current_task and current_task.request.id:
        return current_task.request
    return None


def _carried_id(task_request) -> str | None:
    """The request id a task message carries (custom headers become attributes of the task request)."""
    carried = getattr(task_request, TASK_HEADER, None) or (getattr(task_request, "headers", None) or {}).get(
        TASK_HEADER)
    return carried if isinstance(carried, str) and _SANE_ID.match(carried) else None


def current_request_id() -> str:
    """The id of the request this line belongs to: the web request's, the one a task carries, else the
    task's own id ('-' outside a request and a task)."""
    if has_request_context():
        return g.get("request_id") or "-"
    task_request = _task_context()
    if task_request is not None:
        return _carried_id(task_request) or task_request.id
    return "-"


def current_task_id() -> str | None:
    """The running Celery task's id, or None."""
    task_request = _task_context()
    return task_request.id if task_request is not None else None


def request_id_to_carry() -> str | None:
    """The id a task published now should carry: the web request's, or the one the running task carries."""
    if has_request_context():
        return g.get("request_id")
    task_request = _task_context()
    return _carried_id(task_request) if task_request is not None else None


def carry_request_id(headers: dict | None = None, **_kwargs) -> None:
    """Celery's before_task_publish: put the current request id into the message headers."""
    request_id = request_id_to_carry()
    if request_id and headers is not None and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = request_id


def init_task_request_ids() -> None:
    """Every task published from this process carries the request id (idempotent)."""
    from celery import signals

    signals.before_task_publish.connect(carry_request_id, weak=False, dispatch_uid="crm-carry-request-id")


class RequestIdFilter(logging.Filter):
    """Give every record a `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "message": record.getMessage(),
        }
        task_id = current_task_id()
        if task_id:
            entry["task_id"] = task_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_handler(handler: logging.Handler, log_format: str) -> logging.Handler:
    """Add the request id filter and the chosen formatter to a handler."""
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def init_request_ids(app: Flask) -> None:
    """A request id per request: from the proxy's header when sane, else a new one; echoed in the response."""

    @app.before_request
    def assign_request_id():
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        if g.get("request_id"):
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
