"""Fixtures of the organisation admin tests: signed-in clients per role."""
from __future__ import annotations

import pytest
from flask_babel import refresh

from tests.factories import login, make_user


@pytest.fixture(scope="session", autouse=True)
def sqlite_foreign_keys_on(app):
    """Drop pooled connections left by the migrations with SQLite foreign keys OFF.

    migrations/env.py turns `PRAGMA foreign_keys` off for batch operations
    and does not turn it back on, so the pooled connection would let a
    school in use be deleted; fresh connections get the app's ON again.
    """
    from crm.extensions import db

    with app.app_context():
        db.engine.dispose()
    yield


def signed_in(app, *roles):
    """A fresh test client signed in as a new user with these roles."""
    client = app.test_client()
    user = make_user(*roles)
    response = login(client, user)
    assert response.status_code == 302, "login failed"
    # Assertions read English messages; the UI defaults to Chinese.
    client.post("/language/en")
    # flask_babel caches the locale on `g`, and the per-test app context is
    # shared by every request of the test, so drop the cached Chinese locale.
    refresh()
    return client


@pytest.fixture
def admin_client(app):
    """Signed in as an administrator (org.view, org.edit, org.export)."""
    return signed_in(app, "admin")


@pytest.fixture
def viewer_client(app):
    """Signed in as a teacher: org.view only."""
    return signed_in(app, "teacher")


@pytest.fixture
def ceo_client(app):
    """Signed in as the CEO: org.view and org.export, no org.edit."""
    return signed_in(app, "ceo")


def msgid(text) -> str:
    """The untranslated English text of a lazy string (labels are translated per request)."""
    args = getattr(text, "_args", None)
    return str(args[0]) if args else str(text)


def filter_index(app, endpoint: str, label: str, filter_class: str) -> int:
    """Position of a Flask-Admin filter by label msgid and filter class (used in flt<n>_<index>)."""
    admin = app.extensions["crm_admin"]
    view = next(v for v in admin._views if v.endpoint == endpoint)
    for index, flt in enumerate(view._filters):
        if msgid(flt.name) == label and type(flt).__name__ == filter_class:
            return index
    raise LookupError(f"{endpoint} has no filter {label!r} {filter_class!r}")


def column_index(app, endpoint: str, column: str) -> int:
    """Position of a list column (used by ?sort=<n>)."""
    admin = app.extensions["crm_admin"]
    view = next(v for v in admin._views if v.endpoint == endpoint)
    return [name for name, _label in view._list_columns].index(column)
