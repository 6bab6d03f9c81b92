"""Signing in (P-1): the password check and the throttle on failed attempts, per account and per address.

One Redis step per attempt reserves it against both counters; a correct
password gives it back. An unknown user name costs a password hash too, so it
takes as long to refuse as a wrong password.
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from crm.auth.models import User
from crm.core.clock import utcnow
from crm.core.errors import DomainError
from crm.extensions import db, redis


class LoginLocked(DomainError):
    """Too many failed sign-ins; try again later."""

    status_code = 429


# One atomic step: refuse when the account or the address is locked, otherwise
# count this attempt as a failure in advance. Counting before the password is
# checked means parallel guesses cannot slip past the limit; a successful
# sign-in gives the attempt back (see _release_attempt).
_RESERVE_ATTEMPT = """
local user_count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ip_count = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = 0
if user_count >= tonumber(ARGV[1]) then wait = math.max(wait, redis.call('TTL', KEYS[1]), 1) end
if ip_count >= tonumber(ARGV[2]) then wait = math.max(wait, redis.call('TTL', KEYS[2]), 1) end
if wait > 0 then return wait end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 0
"""

# Give back one counted attempt; never leave a zero or negative counter behind.
_RELEASE_ATTEMPT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if redis.call('DECR', key) <= 0 then redis.call('DEL', key) end
  end
end
return 0
"""


def failure_keys(username: str, ip: str) -> tuple[str, str]:
    """The Redis counters of failed sign-ins for an account and for an address."""
    return (
        redis.key("login", "fail", "user", (username or "").strip().lower()),
        redis.key("login", "fail", "ip", ip or "unknown"),
    )


def _limits() -> tuple[int, int, int]:
    cfg = current_app.config
    max_user = cfg["CRM_LOGIN_MAX_FAILURES"]
    return max_user, cfg["CRM_LOGIN_MAX_FAILURES_IP"], cfg["CRM_LOGIN_LOCK_MINUTES"] * 60


def lock_remaining_seconds(username: str, ip: str) -> int:
    """Seconds until this account or address may try again (0 when not locked)."""
    user_key, ip_key = failure_keys(username, ip)
    max_user, max_ip, _window = _limits()
    pipe = redis.client.pipeline()
    pipe.get(user_key).ttl(user_key).get(ip_key).ttl(ip_key)
    user_count, user_ttl, ip_count, ip_ttl = pipe.execute()
    remaining = 0
    if user_count and int(user_count) >= max_user:
        remaining = max(remaining, user_ttl or 0)
    if ip_count and int(ip_count) >= max_ip:
        remaining = max(remaining, ip_ttl or 0)
    return max(0, remaining)


def _reserve_attempt(username: str, ip: str) -> int:
    """Count an attempt unless locked; returns the seconds to wait (0: go ahead)."""
    max_user, max_ip, window = _limits()
    return int(redis.client.eval(_RESERVE_ATTEMPT, 2, *failure_keys(username, ip), max_user, max_ip, window))


def _release_attempt(username: str, ip: str) -> None:
    """Give back the attempt counted in advance, for a sign-in that was not a wrong guess."""
    redis.client.eval(_RELEASE_ATTEMPT, 2, *failure_keys(username, ip))


def clear_failures(username: str) -> None:
    """Forget an account's failed sign-ins (after a success or a password reset)."""
    redis.client.delete(failure_keys(username, "")[0])


_DUMMY_HASH: list[str] = []


def _verify_dummy(password: str) -> None:
    """Check the password against a hash made like every user's (scrypt), and ignore the answer."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(16), method="scrypt"))
    check_password_hash(_DUMMY_HASH[0], password)


def authenticate(username: str, password: str, ip: str) -> User:
    """Check credentials with throttling; return the user or raise DomainError."""
    username = (username or "").strip()
    wait = _reserve_attempt(username, ip)
    if wait:
        minutes = max(1, -(-wait // 60))
        raise LoginLocked(_(
            "Too many failed sign-ins for this account or from this computer. "
            "Sign-in is locked; try again in %(m)d minutes.",
            m=minutes,
        ))
    # Names are unique whatever their case (index on lower(username)), so "Admin" signs in as "admin".
    user = (db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
            if username else None)
    if user is None or not user.password_hash:
        _verify_dummy(password or "")  # as slow as a real check: the answer time tells no names
        raise DomainError(_("Wrong user name or password."))
    if not user.check_password(password or ""):
        raise DomainError(_("Wrong user name or password."))
    _release_attempt(username, ip)
    if not user.active:
        raise DomainError(_("This account has been deactivated. Ask an administrator."))
    clear_failures(username)
    user.last_login_at = utcnow()
    db.session.flush()
    return user
