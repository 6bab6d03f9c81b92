"""Transient database errors and a short, bounded retry for them.

SQLite answers "database is locked" at once (without waiting) when a connection that already
reads tries to write while another connection writes; PostgreSQL may end a transaction with a
deadlock or a serialization failure. Either is worth another try within a second or two, after
a rollback; anything else is a real error.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from crm.extensions import db

T = TypeVar("T")

# PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, lock not available.
RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
ATTEMPTS = 6
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 2.0


def is_transient(error: BaseException) -> bool:
    """True for a lock or deadlock the same statement may pass on a second try."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in RETRY_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "locked" in str(orig).lower()


def retry_transient(step: Callable[[], T], *, attempts: int = ATTEMPTS,
                    first_delay: float = FIRST_DELAY_SECONDS) -> T:
    """Run `step` (which commits its own work); on a transient error roll back and run it again.

    At most `attempts` runs, waiting first_delay * 2**n (capped) between them; the last
    error is raised when all fail.
    """
    for attempt in range(attempts):
        try:
            return step()
        except DBAPIError as error:
            db.session.rollback()
            if not is_transient(error) or attempt == attempts - 1:
                raise
            time.sleep(min(first_delay * (2 ** attempt), MAX_DELAY_SECONDS))
    raise AssertionError("unreachable")  # pragma: no cover
