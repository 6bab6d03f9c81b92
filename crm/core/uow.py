"""The unit of work: one commit at the edge, side effects after it (STYLE habit 3).

Services flush and never commit. What must happen only once the data is
safely stored (queue an e-mail task, bump the allocation generation,
release a lock) or only if it is not (hand an allocation slot back) is
registered here and runs when the transaction that registered it ends:

* :func:`after_commit` runs when the *outermost* transaction commits. A
  callback registered inside a savepoint moves to the enclosing
  transaction when the savepoint is released, and is dropped if the
  savepoint rolls back (the row it was about is gone).
* :func:`after_rollback` runs when the transaction (or savepoint) it was
  registered in ends without committing: an explicit rollback, an
  exception, or the session being closed at the end of a request.
* :func:`after_end` runs either way (a lock that must be released).

Callbacks run after the database work is over and must not use the
session; an exception in one is logged and never hides the commit's
outcome. The edge itself -- a view, a task, a CLI command -- calls
:func:`commit` once; :func:`register_error_handler` in ``crm.core.errors``
rolls back and maps domain errors for views.

The events are listened to on SQLAlchemy's ``Session`` class once, by
:func:`init_app`; nothing else in the code base listens to session
transaction events.

A GET or HEAD request that only read ends its transaction with COMMIT rather
than ROLLBACK (:func:`end_read_only_request`, below), so the database
connection keeps its prepared statements.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_KEY = "crm_unit_of_work"
_COMMITS = "crm_commits"

COMMIT, ROLLBACK, END = "commit", "rollback", "end"


@dataclass
class _Entry:
    transaction: SessionTransaction
    when: str
    callback: Callable[[], object]


def _session(session: Session | None) -> Session:
    if session is not None:
        return session
    from crm.extensions import db

    return db.session()


def _innermost(session: Session) -> SessionTransaction:
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:  # nothing begun yet: begin now so the callback has an owner
        transaction = session.begin()
    return transaction


def _register(when: str, callback: Callable[[], object], session: Session | None) -> None:
    session = _session(session)
    entries: list[_Entry] = session.info.setdefault(_KEY, [])
    entries.append(_Entry(_innermost(session), when, callback))


def after_commit(callback: Callable[[], object], *, session: Session | None = None) -> None:
    """Run `callback` once the outermost transaction of the session has committed."""
    _register(COMMIT, callback, session)


def after_rollback(callback: Callable[[], object], *, session: Session | None = None) -> None:
    """Run `callback` if the current transaction (or savepoint) ends without committing."""
    _register(ROLLBACK, callback, session)


def after_end(callback: Callable[[], object], *, session: Session | None = None) -> None:
    """Run `callback` when the outermost transaction ends, committed or not."""
    _register(END, callback, session)


def pending(session: Session | None = None) -> int:
    """How many callbacks wait for the current transaction to end (tests)."""
    return len(_session(session).info.get(_KEY, []))


def commits(session: Session | None = None) -> int:
    """How often the session's outermost transaction has committed (did this request save anything?)."""
    return _session(session).info.get(_COMMITS, 0)


def commit(session: Session | None = None) -> None:
    """Commit at the edge (view, task, CLI); on failure roll back (running the rollback callbacks) and re-raise."""
    session = _session(session)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


@contextmanager
def savepoint(session: Session | None = None) -> Iterator[SessionTransaction]:
    """A SAVEPOINT as a block: released when the block ends, rolled back (with its callbacks) if it raises."""
    session = _session(session)
    nested = session.begin_nested()
    try:
        yield nested
    except BaseException:
        if nested.is_active:
            nested.rollback()
        raise
    if nested.is_active:
        nested.commit()


def _run(entries: list[_Entry]) -> None:
    for entry in entries:
        try:
            entry.callback()
        except Exception:  # noqa: BLE001 - the transaction's outcome stands; the effect is logged
            log.exception("unit-of-work callback %r failed", entry.callback)


def _belongs_to(entry: _Entry, transaction: SessionTransaction) -> bool:
    """Was the entry registered in `transaction` or in one of its (now closed) savepoints?"""
    current: SessionTransaction | None = entry.transaction
    while current is not None:
        if current is transaction:
            return True
        current = current.parent
    return False


def _on_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info[_COMMITS] = session.info.get(_COMMITS, 0) + 1
    entries: list[_Entry] | None = session.info.get(_KEY)
    if not entries:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint was released: its callbacks now wait for the enclosing transaction.
        for entry in entries:
            if _belongs_to(entry, nested):
                entry.transaction = nested.parent
        return
    session.info[_KEY] = []
    _run([entry for entry in entries if entry.when in (COMMIT, END)])


def _on_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    entries: list[_Entry] | None = session.info.get(_KEY)
    if not entries:
        return
    ended = [entry for entry in entries if _belongs_to(entry, transaction)]
    if not ended:
        return
    # Whatever still belongs to a transaction that is ending was not committed.
    session.info[_KEY] = [entry for entry in entries if not _belongs_to(entry, transaction)]
    if transaction.nested:
        _run([entry for entry in ended if entry.when == ROLLBACK])
        # after_end callbacks of a rolled-back savepoint still belong to the outer transaction.
        session.info[_KEY].extend(
            _Entry(transaction.parent, entry.when, entry.callback) for entry in ended if entry.when == END
        )
    else:
        _run([entry for entry in ended if entry.when in (ROLLBACK, END)])


# -- a page that only read ends its transaction with COMMIT ---------------------------------------
# For a transaction that changed nothing, COMMIT and ROLLBACK are the same to the database. But psycopg
# forgets every statement it has prepared at each ROLLBACK (it cannot know what the rollback undid), so
# if pages that only read ended with one, as closing the session at the end of a request does, the
# statements of the next request would be parsed and planned again by PostgreSQL every time: a lead's
# page spends more of PostgreSQL's time planning than running its queries. Such a transaction is
# therefore committed -- only when nothing can have been written: a GET or HEAD request that ended
# without an error, no statement but SELECT sent on the connection since the transaction began (noted
# by the engine, whatever sent it: ORM, Core or text), nothing pending in the session, no callback
# waiting for the transaction's end (a callback is registered by code that writes), no savepoint open.
_WROTE = "crm_uow_wrote"
# SELECT, and the BEGIN sent on SQLite (crm.register_sqlite_tuning); any other statement may write.
_WRITES_NOTHING = re.compile(r"\s*\(*\s*(?:SELECT|BEGIN)\b", re.IGNORECASE)
READ_ONLY_METHODS = ("GET", "HEAD")


def _on_begin(connection: sa.Connection) -> None:
    connection.info[_WROTE] = False


def _on_statement(connection: sa.Connection, _cursor, statement: str, *_args) -> None:
    if not _WRITES_NOTHING.match(statement):
        connection.info[_WROTE] = True


def only_read(session: Session | None = None) -> bool:
    """Whether the session's open transaction has sent nothing but SELECTs and holds nothing to write."""
    session = _session(session)
    if not session.in_transaction() or session.in_nested_transaction():
        return False
    if session.info.get(_KEY) or session.new or session.dirty or session.deleted:
        return False
    return session.connection().info.get(_WROTE) is False


def end_read_only_request(error: BaseException | None = None) -> None:
    """teardown_request: COMMIT the transaction of a GET or HEAD that only read (see above)."""
    if error is not None or request.method not in READ_ONLY_METHODS:
        return
    session = _session(None)
    try:
        if only_read(session):
            session.commit()
    except sa.exc.SQLAlchemyError:  # the session is closed right after and rolls back; the page was sent
        log.warning("could not end a read-only transaction with COMMIT", exc_info=True)


def init_app(app: Flask) -> None:
    """Listen to the session and engine events once per process (idempotent); end read-only requests."""
    for name, handler in (("after_commit", _on_commit), ("after_transaction_end", _on_transaction_end)):
        if not sa.event.contains(Session, name, handler):
            sa.event.listen(Session, name, handler)
    for name, handler in (("begin", _on_begin), ("before_cursor_execute", _on_statement)):
        if not sa.event.contains(sa.Engine, name, handler):
            sa.event.listen(sa.Engine, name, handler)
    app.teardown_request(end_read_only_request)
