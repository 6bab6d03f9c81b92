"""Submit once (P-5): a form that creates something is saved once, however often it is sent.

Such a form carries a one-time token in the field ``submission_token``: our templates write
``<input type="hidden" name="submission_token" value="{{ submission_token() }}">`` (or
``{{ forms.submit_once() }}``), and every Flask-Admin create form has it as a hidden field
(`SecuredModelView.get_create_form`). One hook handles every such request, whatever its view:

- before the view runs, the token is claimed for (endpoint, user) with one atomic Redis
  ``SET NX``. A repeat — a double click, a browser resend, a concurrent twin — finds the claim
  and is redirected to the first save's result instead of reaching the view (a twin that is
  still saving is waited for, briefly);
- after the view: if the request committed (crm.core.uow.commits) and answered below 400,
  the token keeps the URL of its result — the redirect's target, or what the view named with
  `result()` (a page rendered in place, like a one-time password, is never shown again);
  otherwise the token is released, so the corrected form can be sent again.

Requests without a token (scripts, the API, which has Idempotency-Key) are not deduplicated,
and while Redis is unreachable the check is skipped rather than refusing the save: a lead is
never lost to an outage (S-6).
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

import redis as redis_lib
from flask import Flask, flash, redirect, request
from flask_babel import gettext as _

from crm.core import uow
from crm.core.safe_redirect import is_local_path
from crm.extensions import redis

log = logging.getLogger(__name__)

FIELD = "submission_token"
TOKEN = re.compile(r"^[0-9a-f]{32}$")
PENDING = "pending"
KEEP_SECONDS = 24 * 3600
WAIT_SECONDS = 10.0

# Per-request state lives in the WSGI environ (tests reuse one app context, and `g`, for many requests).
CLAIM, COMMITS, RESULT = "crm.submission", "crm.submission.commits", "crm.submission.result"


def new_token() -> str:
    """A fresh token for one rendering of a form (template global `submission_token`)."""
    return uuid.uuid4().hex


@dataclass
class Claim:
    """A request's claim on a form token."""

    key: str | None  # None: this request did not get the claim
    first_result: str | None = None  # an earlier submit's result ("" while it is still saving)

    @property
    def repeated(self) -> bool:
        return self.first_result is not None


def _claim(key: str) -> Claim:
    client = redis.client
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if client.set(key, PENDING, nx=True, ex=KEEP_SECONDS):
            return Claim(key)
        value = client.get(key)
        if value is not None and value != PENDING:
            return Claim(None, first_result=value)
        if time.monotonic() > deadline:
            return Claim(None, first_result="")  # its twin is still saving
        time.sleep(0.05)


def result(url: str) -> None:
    """Name where repeats of this request's form go (for a view that renders its result in place)."""
    request.environ[RESULT] = url


def _actor() -> str:
    from flask_login import current_user

    return str(current_user.id) if current_user and current_user.is_authenticated else "anonymous"


def _local(url: str | None) -> str | None:
    """`url` as a path on this site, or None when it points elsewhere."""
    if url and url.startswith(request.host_url):
        url = "/" + url[len(request.host_url):]
    return url if is_local_path(url) else None


def claim_submission():
    """Before the view: claim the form's token; a repeat is sent to the first save's result."""
    if request.method != "POST" or request.mimetype not in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        return None
    token = (request.form.get(FIELD) or "").strip()
    if not TOKEN.match(token) or request.endpoint is None:
        return None
    key = redis.key("once", request.endpoint, _actor(), token)
    try:
        claim = _claim(key)
    except redis_lib.RedisError:
        log.warning("submission check skipped: Redis unreachable", exc_info=True)
        return None
    if claim.repeated:
        flash(_("This form was already sent; it was saved once."), "info")
        return redirect(_local(claim.first_result) or _local(request.referrer) or "/")
    request.environ[CLAIM] = claim
    request.environ[COMMITS] = uow.commits()
    return None


def finish_submission(response):
    """After the view: keep the result of a committed save, release the token of anything else."""
    claim = request.environ.pop(CLAIM, None)
    if claim is None:
        return response
    try:
        saved = uow.commits() > request.environ.get(COMMITS, 0)
        if saved and response.status_code < 400:
            target = request.environ.get(RESULT)
            if not target and 300 <= response.status_code < 400:
                target = _local(response.location)
            redis.client.set(claim.key, target or request.full_path, ex=KEEP_SECONDS)
        else:
            redis.client.delete(claim.key)
    except redis_lib.RedisError:
        log.warning("could not settle submission %s", claim.key, exc_info=True)
    return response


def release_on_error(_error=None) -> None:
    """A request that ended without a response (an exception) releases its token."""
    claim = request.environ.pop(CLAIM, None)
    if claim is not None:
        try:
            redis.client.delete(claim.key)
        except redis_lib.RedisError:
            log.warning("could not release submission %s", claim.key, exc_info=True)


def init_submit_once(app: Flask) -> None:
    """One hook for every form that carries a token (after access checks and CSRF)."""
    app.before_request(claim_submission)
    app.after_request(finish_submission)
    app.teardown_request(release_on_error)
    app.jinja_env.globals["submission_token"] = new_token
