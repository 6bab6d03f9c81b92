"""API tokens, rate limiting and idempotency records (S-10)."""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
import sqlalchemy as sa

from crm.api.models import ApiToken, IdempotencyRecord
from crm.core import audit
from crm.core.errors import DomainError, NotFound
from crm.extensions import db, redis

log = logging.getLogger(__name__)

TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a bearer token (only the digest is stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(actor_id: int | None, *, name: str, rate_per_minute: int) -> tuple[ApiToken, str]:
    """A new active token; returns the row and the clear token, which is never stored."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise DomainError("A token needs a name of 1 to 64 characters.", field="name")
    if not 1 <= int(rate_per_minute) <= 100000:
        raise DomainError("The rate limit must be between 1 and 100000 requests a minute.", field="rate_per_minute")
    clear = "crm_" + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(name=name, token_digest=token_digest(clear), token_hint=clear[:8], active=True,
                     rate_per_minute=int(rate_per_minute), created_by_id=actor_id)
    db.session.add(token)
    db.session.flush()
    audit.record(actor_id, "api.token.create", "api_token", token.id, name=name)
    return token, clear


def deactivate_token(actor_id: int | None, token_id: int) -> ApiToken:
    """Switch a token off for good; its requests get 401 from now on."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token.")
    if token.active:
        token.active = False
        audit.record(actor_id, "api.token.deactivate", "api_token", token.id, name=token.name)
    db.session.flush()
    return token


def find_active_token(clear: str) -> ApiToken | None:
    """The active token with this clear value, or None."""
    if not clear or len(clear) > 256:
        return None
    return db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_digest == token_digest(clear), ApiToken.active.is_(True))
    )


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may pass, and when the window resets."""

    allowed: bool
    count: int
    retry_after: int
    counted: bool = True  # False: Redis did not answer and the request passed uncounted


def hit_rate_limit(token_id: int, per_minute: int, *, now: float | None = None) -> RateDecision:
    """Count a request in this token's current one-minute window (one INCR+EXPIRE round trip).

    The limit fails open: while Redis does not answer, requests pass uncounted (logged as a
    warning), because refusing a website's lead would lose it while the lead itself can be saved
    without Redis (S-6). Idempotency lives in the database and holds either way.
    """
    now = time.time() if now is None else now
    window = int(now // 60)
    key = redis.key("api", "rate", token_id, window)
    try:
        pipe = redis.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
    except redis_lib.RedisError as error:
        log.warning("API rate limit not counted for token %s: Redis unavailable (%s); request let through",
                    token_id, error)
        return RateDecision(allowed=True, count=0, retry_after=0, counted=False)
    retry_after = max(1, 60 - int(now % 60))
    return RateDecision(allowed=count <= per_minute, count=count, retry_after=retry_after)


def request_fingerprint(body: Any) -> str:
    """A digest of the request body that ignores key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def find_idempotency(token_id: int, key: str) -> IdempotencyRecord | None:
    """The stored answer for this token's Idempotency-Key, if any."""
    return db.session.scalar(
        sa.select(IdempotencyRecord).where(IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key)
    )
