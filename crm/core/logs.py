"""Structured logs: one JSON object per line with a request id, in the web and in the worker (16.6).

The web takes the id from a sane `X-Request-ID` header (set by the proxy) or makes one, and sends it
back in the response; a Celery task logs with its task id. `CRM_LOG_FORMAT=text` gives the same
fields as plain text.
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


def current_request_id() -> str:
    """The id of the request or Celery task this line belongs to ('-' outside both)."""
    if has_request_context():
        return g.get("request_id") or "-"
    try:
        from celery import current_task

        if current_task and current_task.request.id:
            return current_task.request.id
    except ImportError:  # pragma: no cover - Celery is a dependency
        pass
    return "-"


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
