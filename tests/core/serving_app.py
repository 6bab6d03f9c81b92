"""A WSGI app for tests/core/test_serving.py: answers with the worker's pid and its collector settings."""
from __future__ import annotations

import gc
import json
import os


def app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "young": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
