"""A request whose database connection was dropped before it wrote anything is served again on a fresh one.

The pool's pre-ping (SQLALCHEMY_ENGINE_OPTIONS) replaces connections that died while idle in the pool;
this covers the rest: a connection terminated between two statements of a request (a failover,
`pg_terminate_backend`, a restarted server). SQLAlchemy marks such an error `connection_invalidated`.
If the request has not written yet (no flush, no INSERT/UPDATE/DELETE, no commit in this request),
its transaction is simply gone, so running the request once more from the start is safe and the
client gets its page instead of a 500. A request that had written gets the usual error page.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, g, has_request_context
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_WROTE = "crm_db_wrote"


def _mark_written(*_args) -> None:
    if has_request_context():
        setattr(g, _WROTE, True)


def _on_execute(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _mark_written()


class CrmFlask(Flask):
    """Flask, with one retry of a request that lost its database connection before writing."""

    def full_dispatch_request(self):
        try:
            return super().full_dispatch_request()
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated or g.get(_WROTE):
                raise
            from crm.extensions import db

            db.session.rollback()
            log.warning("database connection lost before the request wrote anything; serving it again: %s",
                        error.orig)
            return super().full_dispatch_request()


def init_app(app: Flask) -> None:
    """Note every write of a request (once per process)."""
    for name, handler in (("after_flush", _mark_written), ("after_commit", _mark_written),
                          ("do_orm_execute", _on_execute)):
        if not sa.event.contains(Session, name, handler):
            sa.event.listen(Session, name, handler)
