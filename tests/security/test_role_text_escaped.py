"""A role's title and description are user text: escaped on every role page (issue 12, item 1)."""
from __future__ import annotations

import uuid

from crm.auth import services
from crm.auth.models import Role
from crm.extensions import db
from tests.factories import login, make_user

PAYLOAD = "<script>alert(1)</script>"


def test_role_title_and_description_are_escaped(new_client):
    role = services.create_role(None, name="x" + uuid.uuid4().hex[:8], title=PAYLOAD[:60],
                                description=PAYLOAD + "<img src=x onerror=alert(2)>")
    db.session.commit()
    client = new_client()
    login(client, make_user("admin"))
    for url in ("/auth/roles", f"/auth/roles/{role.id}", "/admin/users/"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html, url
        assert "<img src=x" not in html, url
    assert "&lt;script&gt;alert(1)" in client.get(f"/auth/roles/{role.id}").get_data(as_text=True)


def test_default_roles_still_show_translated(new_client, app):
    client = new_client()
    login(client, make_user("admin"))
    client.post("/language/zh_CN")
    html = client.get("/auth/roles").get_data(as_text=True)
    assert "系统管理员" in html


def test_an_edited_default_title_is_shown_as_stored(app):
    role = db.session.scalar(db.select(Role).filter_by(name="consultant"))
    role.title = PAYLOAD[:60]
    with app.test_request_context():
        assert role.display_title == PAYLOAD[:60]
