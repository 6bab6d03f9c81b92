"""The request's language is chosen before its view runs (crm.create_app's choose_locale_before_the_view).

A view that commits and then flashes a translated message would otherwise choose the language only
then, from the signed-in user's row that the commit expired: one more SELECT after the COMMIT, in a
transaction that ends with ROLLBACK (psycopg then forgets its prepared statements).
"""
from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales.models import Customer
from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead

pytestmark = pytest.mark.committing


@contextlib.contextmanager
def sent():
    """Every statement sent while the block runs, and "COMMIT" where a transaction committed."""
    seen: list[str] = []

    def statement(_conn, _cursor, text, *_args):
        seen.append(text)

    def commit(_conn):
        seen.append("COMMIT")

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "commit", commit)


def test_a_view_that_commits_then_flashes_sends_nothing_after_its_commit(app, client, clean_database):
    with app.app_context():
        consultant = make_user("consultant")
        consultant.locale = "en"
        lead_id = make_lead(None).id
        username = consultant.username
        db.session.commit()
    login(client, username)
    with app.app_context(), sent() as statements:
        answer = client.post(f"/sales/pool/{lead_id}/grab", data={"next": "/sales/pool"})
    assert answer.status_code == 302
    assert "COMMIT" in statements
    assert statements[statements.index("COMMIT") + 1:] == []  # no reload of the user for the message
    with client.session_transaction() as session:
        [(_category, message)] = session["_flashes"]
    assert message.isascii()  # in the user's language (English), chosen before the commit
    with app.app_context():
        assert db.session.get(Customer, lead_id).consultant_id is not None
