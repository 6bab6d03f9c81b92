"""Default roles' titles follow the UI language in the user list and the role pages; renamed ones stay as written."""
from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import Role
from crm.extensions import db
from tests.factories import login, make_user


def test_chinese_user_list_and_role_pages_translate_default_role_titles(client):
    make_user("sales_director", name="Dee", email="dee@example.com")
    login(client, make_user("admin"))
    users = client.get("/admin/users/?search=dee@example.com").get_data(as_text=True)
    assert "销售" in users and "Sales director" not in users
    roles = client.get("/auth/roles").get_data(as_text=True)
    assert ">Sales director<" not in roles and ">Consultant<" not in roles


def test_a_renamed_role_shows_its_own_title_untranslated(app):
    role = db.session.scalar(sa.select(Role).where(Role.name == "consultant"))
    with app.test_request_context("/"):
        assert role.display_title == "课程顾问"  # the default title: translated
        role.title = "Senior advisor"
        assert role.display_title == "Senior advisor"
    db.session.rollback()
