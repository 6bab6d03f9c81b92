"""Web-to-lead API: `POST /api/v1/leads` (S-10).

Access: the endpoint is declared `@public` because browsers' sessions play no
part here; it authenticates every request itself with an
`Authorization: Bearer <token>` header checked against ApiToken (401 JSON
otherwise), then applies the token's per-minute rate limit (429 with
Retry-After).

While Redis is down the lead is still saved, exactly as the lead form does:
unassigned, in the public pool (201, "status": "pool" with a note); the rate
limit lets requests through uncounted (a warning in the log) and the
Idempotency-Key records, kept in the database, still hold.

Body: a JSON object (Content-Type application/json, at most 64 KB) with the
keys of `crm.sales.leads.intake.FIELDS`. Unknown keys are refused (422 naming them),
so a typo on the website's side is noticed instead of silently dropping data.
QQ may be a string or a number; choices may be a code or their label.

Answers: 201 {id, consultant: {id, name} | null, assigned, status: "assigned" |
"pool"} (a lead in the pool also gets a "note" saying why: nobody can take
leads, or the allocation queue is unavailable); 409 {error,
existing_id} for a duplicate; 422 {errors: {field: message}}; 400 for
malformed JSON; 413 for a body too large; 415 for another content type.

`Idempotency-Key` (1-128 visible ASCII characters): the first complete answer
for (token, key) is stored in the same transaction as the lead and replayed
for the same body; the same key with a different body gets 422. The unique
constraint on (token_id, key) settles concurrent retries: the placeholder row
is inserted before the lead, so a second request with the key waits for the
first and then replays its answer.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time

import sqlalchemy as sa
from flask import Response, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api import bp
from crm.api.models import ApiToken, IdempotencyRecord
from crm.api.services import find_active_token, find_idempotency, hit_rate_limit, request_fingerprint
from crm.auth.models import User
from crm.core import clock, uow
from crm.core.access import public
from crm.core.input_guard import json_problem
from crm.extensions import db

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,128}")
LOCK_RETRIES = 6
# Why a saved lead has no consultant (answer "note"), keyed by "allocation was unavailable".
POOL_NOTES = {
    True: "allocation is unavailable right now; the lead was saved unassigned in the public pool",
    False: "no consultant can take leads now; the lead was saved unassigned in the public pool",
}


class ApiError(Exception):
    """An answer decided before the lead is processed (status, JSON body, extra headers)."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("error"))
        self.status, self.body, self.headers = status, body, headers or {}


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _authenticate() -> ApiToken:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, {"error": "missing bearer token"}, {"WWW-Authenticate": 'Bearer realm="crm"'})
    token = find_active_token(value.strip())
    if token is None:
        raise ApiError(401, {"error": "invalid or inactive token"},
                       {"WWW-Authenticate": 'Bearer realm="crm", error="invalid_token"'})
    return token


def _read_body() -> dict:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
    if request.mimetype != "application/json":
        raise ApiError(415, {"error": "send the lead as application/json"})
    request.max_content_length = MAX_BODY_BYTES  # also caps bodies sent without Content-Length
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
    try:
        body = json.loads(raw.decode(request.mimetype_params.get("charset", "utf-8")))
    except (ValueError, LookupError, RecursionError):
        raise ApiError(400, {"error": "malformed JSON"}) from None
    if not isinstance(body, dict):
        raise ApiError(400, {"error": "the body must be a JSON object"})
    bad = json_problem(body)
    if bad:
        field, reason = bad
        raise ApiError(422, {"errors": {field if field is not None else "": reason}})
    return body


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ApiError(400, {"error": "Idempotency-Key must be 1 to 128 visible ASCII characters"})
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        return _json(422, {"error": "this Idempotency-Key was already used with a different body"})
    response = Response(record.response_body, status=record.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Cache-Control"] = "no-store"
    return response


def _process(token_id: int, body: dict, key: str | None, fingerprint: str) -> tuple[int, dict, list[int], int | None]:
    """One attempt in one transaction: (status, body, notification ids, consultant id); commits."""
    from crm.sales.leads import intake
    from crm.sales.leads.fields import ValidationFailed

    record = None
    if key is not None:
        record = IdempotencyRecord(token_id=token_id, key=key, request_hash=fingerprint, status_code=0,
                                   response_body="")
        db.session.add(record)
        db.session.flush()  # a concurrent twin blocks here on the unique (token_id, key) index

    unknown = sorted(set(body) - set(intake.FIELDS))
    notification_ids: list[int] = []
    consultant_id = None
    if unknown:
        status, answer = 422, {"errors": {name: "unknown field" for name in unknown}}
    else:
        savepoint = db.session.begin_nested()
        try:
            result = intake.create_lead(None, body, channel="api", today=clock.today())
            savepoint.commit()
        except ValidationFailed as error:
            savepoint.rollback()
            status, answer = 422, {"errors": error.errors}
        except intake.DuplicateLead as error:
            savepoint.rollback()
            status, answer = 409, {"error": error.message, "field": error.field, "existing_id": error.existing_id}
        else:
            consultant_id = result.consultant_id
            consultant = db.session.get(User, consultant_id) if consultant_id else None
            status = 201
            answer = {
                "id": result.customer.id,
                "consultant": {"id": consultant.id, "name": consultant.name} if consultant else None,
                "assigned": consultant is not None,
                "status": "assigned" if consultant is not None else "pool",
            }
            if consultant is None:
                answer["note"] = POOL_NOTES[result.allocation_unavailable]
            notification_ids = result.notification_ids
    if record is not None:
        record.status_code, record.response_body = status, json.dumps(answer, ensure_ascii=False)
    uow.commit()  # a failed commit hands the allocation slot back (registered by intake)
    return status, answer, notification_ids, consultant_id


def _touch_token(token_id: int) -> None:
    """Note when the token was last used, at most once a minute (keeps the token row cool)."""
    now = clock.utcnow()
    try:
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == token_id,
                   sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - dt.timedelta(minutes=1)))
            .values(last_used_at=now)
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not record the use of API token %s", token_id, exc_info=True)


def _is_lock_error(error: Exception) -> bool:
    """SQLite's 'database is locked' (a concurrent writer): worth retrying the whole request."""
    return isinstance(error, OperationalError) and "locked" in str(error.orig).lower()


@bp.route("/leads", methods=["POST"])
@public  # token-authenticated inside: see the module docstring
def create_lead():
    """Create a lead from the school's website: validated, deduplicated, allocated (S-10)."""
    try:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise ApiError(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
        token = _authenticate()
        token_id, per_minute = token.id, token.rate_per_minute
        decision = hit_rate_limit(token_id, per_minute)
        if not decision.allowed:
            raise ApiError(429, {"error": "rate limit exceeded", "limit_per_minute": per_minute},
                           {"Retry-After": str(decision.retry_after)})
        body = _read_body()
        key = _idempotency_key()
    except ApiError as error:
        db.session.rollback()
        return _json(error.status, error.body, error.headers)
    fingerprint = request_fingerprint(body)
    # End the read transaction of the token look-up so the write below starts clean (SQLite
    # cannot upgrade a read lock while another writer waits; PostgreSQL does not mind).
    db.session.rollback()

    for attempt in range(LOCK_RETRIES):
        if key is not None:
            stored = find_idempotency(token_id, key)
            if stored is not None and stored.status_code:
                response = _replay(stored, fingerprint)
                db.session.rollback()
                return response
            db.session.rollback()
        try:
            status, answer, notification_ids, _consultant = _process(token_id, body, key, fingerprint)
        except IntegrityError:
            db.session.rollback()
            if key is None:
                raise
            continue  # a concurrent request with the same key committed first: replay its answer
        except OperationalError as error:
            db.session.rollback()
            if not _is_lock_error(error) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * (2 ** attempt))
            continue
        _touch_token(token_id)
        return _json(status, answer)
    log.error("lead API request gave up after %s attempts", LOCK_RETRIES)
    return _json(503, {"error": "busy, try again"}, {"Retry-After": "1"})
