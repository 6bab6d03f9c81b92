"""Org admin forms with CSRF on, as in production: no token, no change (P-5)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.org.models import School
from tests.factories import PASSWORD, make_school, make_user


@pytest.fixture
def csrf_client(build_app, clean_database):
    """A client of a second app with WTF_CSRF_ENABLED=True, signed in as an administrator."""
    csrf_app = build_app(WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        db.engine.dispose()  # fresh connections: SQLite foreign keys ON
        username = make_user("admin").username
    client = csrf_app.test_client()
    login_page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', login_page).group(1)
    response = client.post("/auth/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    yield csrf_app, client


def token_from(html: str) -> str:
    """The CSRF token rendered into a page."""
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def school_titled(app, title: str):
    """The school with this title, read in a fresh session."""
    with app.app_context():
        return db.session.scalar(sa.select(School).where(School.title == title))


@pytest.mark.committing
def test_create_without_token_is_refused_and_with_token_works(csrf_client):
    app, client = csrf_client
    assert client.post("/org/schools/new/", data={"title": "No token campus"}).status_code == 400
    assert school_titled(app, "No token campus") is None

    form = client.get("/org/schools/new/").get_data(as_text=True)
    response = client.post("/org/schools/new/", data={"title": "Token campus", "csrf_token": token_from(form)})
    assert response.status_code == 302
    assert school_titled(app, "Token campus") is not None


@pytest.mark.committing
def test_delete_without_token_is_refused_and_the_list_form_carries_one(csrf_client):
    app, client = csrf_client
    with app.app_context():
        school_id = make_school("Delete me campus").id
    assert client.post("/org/schools/delete/", data={"id": str(school_id)}).status_code == 400
    assert client.post("/org/schools/delete/", data={"id": str(school_id), "csrf_token": "forged"}).status_code == 400
    assert school_titled(app, "Delete me campus") is not None

    listing = client.get("/org/schools/").get_data(as_text=True)
    delete_form = re.search(r'<form class="icon" method="POST" action="/org/schools/delete/">(.*?)</form>',
                            listing, re.S)
    assert delete_form, "each row has a POST delete form"
    assert "data-confirm=" in delete_form.group(1), "the delete button asks for confirmation"
    response = client.post("/org/schools/delete/",
                           data={"id": str(school_id), "csrf_token": token_from(delete_form.group(1))})
    assert response.status_code == 302
    assert school_titled(app, "Delete me campus") is None


@pytest.mark.committing
def test_bulk_action_without_token_is_refused(csrf_client):
    app, client = csrf_client
    with app.app_context():
        school_id = make_school("Bulk campus").id
    response = client.post("/org/schools/action/", data={"action": "delete", "rowid": [str(school_id)]})
    assert response.status_code == 400
    assert school_titled(app, "Bulk campus") is not None
