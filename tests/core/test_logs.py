"""16.6: every log line is a JSON object with the request id, which the response echoes."""
from __future__ import annotations

import io
import json
import logging

from crm.core.logs import configure_handler


def test_a_log_line_of_a_request_carries_its_id(app):
    stream = io.StringIO()
    handler = configure_handler(logging.StreamHandler(stream), "json")
    app.logger.addHandler(handler)
    try:
        with app.test_request_context("/", headers={"X-Request-ID": "abc-123"}):
            app.preprocess_request()
            app.logger.warning("probe %s", 1)
            response = app.process_response(app.response_class("ok"))
    finally:
        app.logger.removeHandler(handler)
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines() if "probe" in raw]
    assert response.headers["X-Request-ID"] == "abc-123"
    assert line["request_id"] == "abc-123" and line["message"] == "probe 1" and line["level"] == "WARNING"


def test_a_missing_or_insane_request_id_is_replaced(app, client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; <script>"})
    assigned = response.headers["X-Request-ID"]
    assert assigned and " " not in assigned and "<" not in assigned
    assert client.get("/healthz").headers["X-Request-ID"] != assigned


def test_outside_a_request_the_id_is_a_dash():
    stream = io.StringIO()
    logger = logging.getLogger("crm.tests.logs")
    handler = configure_handler(logging.StreamHandler(stream), "text")
    logger.addHandler(handler)
    try:
        logger.warning("plain")
    finally:
        logger.removeHandler(handler)
    assert "[-]: plain" in stream.getvalue()


def test_a_task_published_during_a_request_carries_its_id(app):
    from crm.core.logs import TASK_HEADER, carry_request_id

    headers: dict = {}
    with app.test_request_context("/", headers={"X-Request-ID": "req-77"}):
        app.preprocess_request()
        carry_request_id(headers=headers)
    assert headers == {TASK_HEADER: "req-77"}
    outside: dict = {}
    carry_request_id(headers=outside)  # beat or a shell: nothing to carry
    assert outside == {}
