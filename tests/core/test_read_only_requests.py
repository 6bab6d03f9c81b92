"""A GET or HEAD that only read ends its transaction with COMMIT (crm.core.uow.end_read_only_request).

Why: psycopg forgets its prepared statements at every ROLLBACK, so pages that only read would be
parsed and planned again by PostgreSQL on every request. Anything that may have written still ends
with ROLLBACK, as before.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core import uow
from crm.extensions import db
from crm.org.models import School
from tests.factories import login, make_user

pytestmark = pytest.mark.committing


@pytest.fixture
def endings(app, clean_database):
    """How each transaction on the engine ended: 'commit' or 'rollback', in order."""
    seen: list[str] = []

    def on_commit(_connection):
        seen.append("commit")

    def on_rollback(_connection):
        seen.append("rollback")

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "commit", on_commit)
    sa.event.listen(engine, "rollback", on_rollback)
    yield seen
    sa.event.remove(engine, "commit", on_commit)
    sa.event.remove(engine, "rollback", on_rollback)


def _schools() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(School))


def test_a_page_that_only_read_commits_and_a_refused_post_rolls_back(app, client, endings):
    with app.app_context():
        username = make_user("consultant").username
        db.session.commit()
    login(client, username)
    endings.clear()
    assert client.get("/sales/mine").status_code == 200
    assert endings[-1:] == ["commit"] and "rollback" not in endings
    endings.clear()
    assert client.post("/sales/leads/new", data={"qq": "12"}).status_code in (400, 403)
    assert endings[-1:] == ["rollback"]


@pytest.mark.parametrize("write", [
    "text UPDATE", "pending object", "flushed object", "callback", "savepoint",
])
def test_a_get_that_may_have_written_is_rolled_back(app, endings, write):
    with app.app_context():
        db.session.add(School(title="原来的校区"))
        db.session.commit()
    with app.test_request_context("/", method="GET"):
        assert _schools() == 1 and uow.only_read()
        if write == "text UPDATE":
            db.session.execute(sa.text("UPDATE schools SET title = 'changed'"))
        elif write == "pending object":
            db.session.add(School(title="新校区"))
        elif write == "flushed object":
            db.session.add(School(title="新校区"))
            db.session.flush()
        elif write == "callback":
            uow.after_rollback(lambda: None)
        else:
            db.session.begin_nested()
        assert not uow.only_read()
        endings.clear()
        uow.end_read_only_request(None)
        assert endings == [] and db.session().in_transaction()  # left for the session's close: ROLLBACK
        db.session.remove()
    with app.app_context():
        assert db.session.scalars(sa.select(School.title)).all() == ["原来的校区"]
        db.session.remove()


def test_only_reads_of_a_get_are_committed_not_posts_or_failed_requests(app, endings):
    for method, error, committed in (("GET", None, True), ("HEAD", None, True), ("POST", None, False),
                                     ("GET", RuntimeError("boom"), False)):
        with app.test_request_context("/", method=method):
            _schools()
            endings.clear()
            uow.end_read_only_request(error)
            assert endings == (["commit"] if committed else []), (method, error)
            db.session.remove()


def test_the_note_of_a_write_starts_again_with_each_transaction(app, endings):
    with app.test_request_context("/", method="GET"):
        db.session.execute(sa.text("DELETE FROM schools WHERE title = 'none'"))
        assert not uow.only_read()
        db.session.commit()
        _schools()  # a new transaction that only reads
        assert uow.only_read()
        db.session.remove()


def test_psycopg_keeps_prepared_statements_across_commit_but_not_rollback(database_url):
    """What the COMMIT is for: a statement run often is prepared once and planned once per connection."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL runs under `make test-pg` (TEST_DATABASE_URL)")
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        def prepared() -> int:
            count = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
            conn.commit()
            return count

        for _ in range(conn.prepare_threshold + 1):
            conn.execute("SELECT 1 FROM schools WHERE id = %s", (1,))
            conn.commit()
        assert prepared() == 1
        conn.execute("SELECT 1 FROM schools WHERE id = %s", (1,))
        conn.rollback()
        assert prepared() == 0
