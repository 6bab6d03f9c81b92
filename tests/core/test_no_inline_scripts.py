"""Scripts live in static files: no template of ours holds inline script code (STYLE: no inline <script>)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import url_for
from jinja2 import TemplateNotFound

from crm.extensions import db

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)  # onclick=, onload=, ...


def offenders(text: str) -> list[str]:
    """Inline scripts and inline event handlers in one template's text."""
    found = []
    for match in SCRIPT_TAG.finditer(text):
        attributes = match.group(1)
        if "src=" in attributes or re.search(r'type="application/json"', attributes):
            continue  # a file, or data for a script (read with JSON.parse, never run)
        found.append(match.group(0))
    found += [m.group(0).strip() for m in HANDLER.finditer(text)]
    return found


def test_the_check_sees_inline_code():
    assert offenders("<script>alert(1)</script>") == ["<script>"]
    assert offenders('<button onclick="go()">') == ["onclick="]
    assert offenders('<script src="/static/js/x.js"></script><script type="application/json" id="d">{}</script>') == []


def test_no_template_holds_inline_script_code():
    found = {}
    for path in sorted((ROOT / "crm").rglob("templates/**/*.html")):
        bad = offenders(path.read_text(encoding="utf-8"))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert found == {}


def _script_src(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(part.strip() for part in policy.split(";") if part.strip().startswith("script-src"))


def test_our_pages_allow_scripts_from_files_only(client):
    from tests.factories import login, make_user

    login(client, make_user("admin"))
    for path in ("/", "/sales/leads/new", "/sales/allocation", "/auth/login", "/healthz"):
        assert _script_src(client.get(path)) == "script-src 'self'", path


def admin_pages(app, client) -> list[str]:
    """Every Flask-Admin view's list page; of those that edit, the create page and its first row's edit page."""
    admin = app.extensions["crm_admin"]
    pages = []
    for view in admin._views:
        if not hasattr(view, "model"):
            continue
        with app.test_request_context():
            pages.append(url_for(f"{view.endpoint}.index_view"))
            if not view.permission_edit:
                continue  # read-only here (users are changed on our own pages)
            pages.append(url_for(f"{view.endpoint}.create_view"))
            row = db.session.scalars(sa.select(view.model).limit(1)).first()
            assert row is not None, f"no {view.model.__name__} to edit"
            pages.append(url_for(f"{view.endpoint}.edit_view", id=view.get_pk_value(row)))
    return pages


def test_flask_admin_pages_run_no_inline_script_without_the_nonce_and_no_inline_handler(app, client):
    """Every admin view's list, create and edit page: no 'unsafe-inline', each inline script
    carries this response's nonce, and no on…= handler is left in the HTML."""
    from crm.demo import seed_demo
    from tests.factories import login

    seed_demo(password="demo-pass-1")
    login(client, "admin", "demo-pass-1")
    pages = admin_pages(app, client)
    assert len(pages) >= 2 + 3 * 5
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        script_src = _script_src(response)
        assert "'unsafe-inline'" not in script_src, page
        nonce = re.search(r"'nonce-([^']+)'", script_src)
        for match in SCRIPT_TAG.finditer(html):
            attributes = match.group(1)
            if "src=" not in attributes and 'type="application/json"' not in attributes:
                assert nonce and f'nonce="{nonce.group(1)}"' in attributes, (page, match.group(0))
        assert HANDLER.findall(html) == [], page
        assert "js/admin.js" in html, page  # what the rewritten handlers did


def test_the_handler_rewrite_refuses_a_template_it_no_longer_matches(tmp_path):
    from jinja2 import Environment

    from crm.core.admin_templates import HandlerFreeAdminTemplates

    (tmp_path / "x.html").write_text('<a onclick="go()">', encoding="utf-8")
    env = Environment()
    loader = HandlerFreeAdminTemplates(tmp_path, {"x.html": (('onclick="run()"', ""),)})
    with pytest.raises(RuntimeError, match="inline handler"):
        loader.get_source(env, "x.html")
    assert HandlerFreeAdminTemplates(tmp_path, {"x.html": (('onclick="go()"', 'data-go=""'),)}) \
        .get_source(env, "x.html")[0] == '<a data-go="">'
    with pytest.raises(TemplateNotFound):
        loader.get_source(env, "y.html")
