"""Admin pages for API tokens (permission api.token.manage)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.api.models import ApiToken
from crm.api.services import find_active_token, token_digest
from crm.core.audit import AuditLog
from crm.extensions import db
from tests.factories import PASSWORD, login, make_user

LIST = "/admin/api-tokens/"


def test_admin_creates_a_token_shown_once_and_stored_as_digest(client):
    admin = make_user("admin")
    login(client, admin)
    page = client.get(LIST)
    assert page.status_code == 200
    response = client.post(LIST, data={"name": "官网 <b>表单</b>", "rate_per_minute": "30"})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    clear = re.search(r'data-testid="one-time-token">([^<]+)<', html).group(1)
    token = db.session.scalar(sa.select(ApiToken))
    assert token.token_digest == token_digest(clear) and clear not in token.token_digest
    assert token.rate_per_minute == 30 and token.created_by_id == admin.id and token.token_hint == clear[:8]
    assert find_active_token(clear).id == token.id
    listing = client.get(LIST).get_data(as_text=True)
    assert clear not in listing and token.token_hint in listing
    assert "&lt;b&gt;表单&lt;/b&gt;" in listing and "<b>表单" not in listing
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "api.token.create")) is not None


def test_bad_token_form_is_refused_with_messages(client):
    login(client, make_user("admin"))
    for data in ({"name": "", "rate_per_minute": "60"}, {"name": "x" * 65, "rate_per_minute": "60"},
                 {"name": "ok", "rate_per_minute": "0"}, {"name": "ok", "rate_per_minute": "abc"}):
        response = client.post(LIST, data=data)
        assert response.status_code == 400
        assert "invalid-feedback" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_admin_deactivates_a_token(client):
    login(client, make_user("admin"))
    client.post(LIST, data={"name": "partner", "rate_per_minute": "60"})
    token = db.session.scalar(sa.select(ApiToken))
    response = client.post(f"/admin/api-tokens/{token.id}/deactivate")
    assert response.status_code == 302
    db.session.refresh(token)
    assert token.active is False
    assert client.post("/admin/api-tokens/999999/deactivate").status_code == 302


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.mark.committing
def test_token_forms_need_csrf(build_app, clean_database):
    csrf_app = build_app(WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        username = make_user("admin").username
    client = csrf_app.test_client()
    token = _csrf_token(client.get("/auth/login").get_data(as_text=True))
    client.post("/auth/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    page = client.get(LIST)
    assert page.status_code == 200
    assert client.post(LIST, data={"name": "no csrf", "rate_per_minute": "60"}).status_code == 400
    form_token = _csrf_token(page.get_data(as_text=True))
    assert client.post(LIST, data={"name": "with csrf", "rate_per_minute": "60",
                                   "csrf_token": form_token}).status_code == 201
    with csrf_app.app_context():
        assert [t.name for t in db.session.scalars(sa.select(ApiToken))] == ["with csrf"]


def test_token_pages_need_the_permission(client):
    login(client, make_user("consultant"))
    assert client.get(LIST).status_code == 403
    assert client.post(LIST, data={"name": "x", "rate_per_minute": "1"}).status_code == 403


def test_menu_shows_api_tokens_to_admins_only(client):
    login(client, make_user("admin"))
    assert "/admin/api-tokens/" in client.get("/").get_data(as_text=True)
    client.post("/auth/logout")
    login(client, make_user("consultant"))
    assert "/admin/api-tokens/" not in client.get("/").get_data(as_text=True)
