"""Revocable sessions (issue 12): a per-user session version in every session and remember cookie.

`User.get_id()` is "<id>:<version>:<nonce>"; Flask-Login keeps it in the session
and signs it into the remember-me cookie, and hands it back to `user_for_token`
on every request. Raising `users.session_version` (one UPDATE, so concurrent
bumps never get lost) ends every session and remember cookie of the account.
"""
from __future__ import annotations

import functools
import secrets

import sqlalchemy as sa
from flask import g

from crm.auth.models import User
from crm.core.ids import MAX_ID
from crm.extensions import db


def user_for_token(token: str) -> User | None:
    """The user a session or remember cookie names, if its version is still the current one."""
    parts = str(token or "").split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    user_id, version = int(parts[0]), int(parts[1])
    if not 0 < user_id <= MAX_ID:
        return None
    user = load_with_permissions(user_id)
    if user is None:
        return None
    if user.session_version != version:
        g.ended_session_user = user  # end_stale_session (crm/auth/views.py) clears the cookie and says why
        return None
    user.__dict__["_sign_in_nonce"] = parts[2]
    return user


def load_with_permissions(user_id: int) -> User | None:
    """The user and the permission codes their roles give, in one statement and one row (once per request).

    The codes come aggregated into one string by a correlated subquery; they are kept on the user
    for this request (`User.permission_codes`), so a role change shows on the next one.
    """
    row = db.session.execute(_user_with_codes(), {"crm_user_id": user_id}).first()
    if row is None:
        return None
    user, codes = row
    user.__dict__["_permission_codes"] = frozenset(codes.split(CODE_SEPARATOR)) if codes else frozenset()
    return user


CODE_SEPARATOR = " "  # permission codes are dotted words ('sales.pool.grab'), never with a space


@functools.cache
def _user_with_codes() -> sa.Select:
    """The statement of load_with_permissions, built once (the user id is a bound parameter)."""
    from sqlalchemy.orm import lazyload

    from crm.auth.models import Permission, role_permissions, user_roles

    codes = (
        sa.select(sa.func.aggregate_strings(Permission.code, CODE_SEPARATOR))
        .select_from(user_roles)
        .join(role_permissions, role_permissions.c.role_id == user_roles.c.role_id)
        .join(Permission, Permission.id == role_permissions.c.permission_id)
        .where(user_roles.c.user_id == User.id)
        .scalar_subquery()
    )
    # The department (joined by default) is read by no page for the signed-in user: not joined here.
    return sa.select(User, codes).where(User.id == sa.bindparam("crm_user_id")).options(lazyload(User.department))


def new_sign_in(user: User) -> None:
    """Give this sign-in its own nonce, so its remember cookie differs from every earlier one."""
    user.__dict__["_sign_in_nonce"] = secrets.token_urlsafe(12)


def revoke_sessions(user_id: int) -> None:
    """End every session and remember cookie of the account (the caller commits)."""
    db.session.execute(
        sa.update(User).where(User.id == user_id).values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    user = db.session.get(User, user_id)
    if user is not None:
        db.session.refresh(user, ["session_version"])
