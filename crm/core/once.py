"""Submit once (P-5): a form that creates something is saved once, however often it is sent.

Each such form carries a one-time token (``submission_token``, rendered by the template
global of the same name). The first request with a token claims it in Redis with one atomic
``SET NX``; when it has saved, it leaves the URL of its result under the token. A repeat —
a double click, a browser resend, a concurrent twin — finds the claim and is sent to that
result instead of saving again (a twin still saving is waited for, briefly). A request that
fails releases the token, so the corrected form can be sent again.

Forms without a token (scripts, the API, which has Idempotency-Key) are not deduplicated, and
while Redis is unreachable the check is skipped rather than refusing the save: a lead is never
lost to an outage (S-6).
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis as redis_lib
from flask import request

from crm.extensions import redis

log = logging.getLogger(__name__)

FIELD = "submission_token"
TOKEN = re.compile(r"^[0-9a-f]{32}$")
PENDING = "pending"
KEEP_SECONDS = 24 * 3600
WAIT_SECONDS = 10.0


def new_token() -> str:
    """A fresh token for one rendering of a form (template global `submission_token`)."""
    return uuid.uuid4().hex


@dataclass
class Submission:
    """This request's claim on a form token."""

    key: str | None  # None: nothing to deduplicate (no token, or Redis unreachable)
    first_result: str | None = None  # set when an earlier submit with this token already saved
    finished: bool = False

    @property
    def repeated(self) -> bool:
        """True when this request repeats a submit that was already saved (or is being saved)."""
        return self.first_result is not None

    def done(self, result_url: str) -> None:
        """The save committed: repeats of this token are sent to `result_url`."""
        self.finished = True
        if self.key is None:
            return
        try:
            redis.client.set(self.key, result_url, ex=KEEP_SECONDS)
        except redis_lib.RedisError:
            log.warning("could not record the result of submission %s", self.key, exc_info=True)


def _claim(key: str) -> Submission:
    client = redis.client
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if client.set(key, PENDING, nx=True, ex=KEEP_SECONDS):
            return Submission(key)
        value = client.get(key)
        if value is not None and value != PENDING:
            return Submission(None, first_result=value)
        if time.monotonic() > deadline:
            return Submission(None, first_result="")  # its twin is still saving
        time.sleep(0.05)


@contextmanager
def submission(scope: str, actor_id: int) -> Iterator[Submission]:
    """Claim this request's form token for `scope`; released again unless `done()` is called."""
    token = (request.form.get(FIELD) or "").strip()
    if not TOKEN.match(token):
        yield Submission(None)
        return
    key = redis.key("once", scope, actor_id, token)
    try:
        claim = _claim(key)
    except redis_lib.RedisError:
        log.warning("submission check skipped: Redis unreachable", exc_info=True)
        claim = Submission(None)
    try:
        yield claim
    finally:
        if claim.key is not None and not claim.finished:
            try:
                redis.client.delete(claim.key)
            except redis_lib.RedisError:
                log.warning("could not release submission %s", claim.key, exc_info=True)
