"""Scripts live in static files: no template of ours holds inline script code (STYLE: no inline <script>)."""
from __future__ import annotations

import re
from pathlib import Path

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


def test_our_pages_allow_scripts_from_files_only_and_flask_admin_keeps_its_inline_ones(client):
    from tests.factories import login, make_user

    login(client, make_user("admin"))
    for path in ("/", "/sales/leads/new", "/sales/allocation", "/auth/login", "/healthz"):
        assert _script_src(client.get(path)) == "script-src 'self'", path
    assert "'unsafe-inline'" in _script_src(client.get("/org/schools/"))  # Flask-Admin's list template
