"""Generated sweeps (issue 12): every list page's query parameters and every form of every page
× {NUL, lone surrogate, 100 kB, HTML/script} → never a 500, never the payload unescaped.

Pages and forms are discovered, not listed: every GET route of `app.url_map` — those that take
an id with the ids of real seeded rows (demo data: leads, users, roles, classes, sessions, study
records, surveys, rooms, imports) — the parameters its page links and filters use, and the POST
forms on it, as each of several demo roles (tests/security/crawl.py).
"""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from crm.auth.models import User
from crm.demo import seed_demo
from crm.extensions import db
from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead
from tests.security.crawl import reachable_pages, unknown_id_arguments

SCRIPT = '<script>alert("sweep12")</script>'
PAYLOADS = {
    "nul": "a\x00b",
    "surrogate": "%ED%A0%80",  # the UTF-8-style bytes of U+D800, as a client can send them
    "huge": "x" * 100_000,
    "script": SCRIPT,
}
COMMON_PARAMS = ("q", "page", "per_page", "sort", "desc", "search", "status", "id", "user_id", "date")
SKIP_ACTIONS = ("/auth/logout", "/language/")
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
FIELD = re.compile(r"<(input|textarea|select)\b([^>]*)>", re.I)


def get_pages(app) -> list[str]:
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        path = rule.rule
        if any(part in path for part in ("/export", "/feed", "/healthz", "/language", "/logout")):
            continue
        pages.append(path)
    return sorted(set(pages))


def params_of(html: str) -> set[str]:
    """Query parameter names the page's links and GET forms use."""
    names = set(COMMON_PARAMS)
    for href in re.findall(r'href="([^"]*\?[^"]*)"', html):
        names.update(name for name, _ in parse_qsl(urlsplit(unescape(href)).query, keep_blank_values=True))
    for attrs, body in FORM.findall(html):
        if dict(ATTR.findall(attrs)).get("method", "get").lower() == "get":
            names.update(dict(ATTR.findall(a)).get("name") for _, a in FIELD.findall(body))
    names.discard(None)
    return names


def post_forms(html: str, page: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """(action, default data with the CSRF token, text field names) of each POST form."""
    forms = []
    for attrs, body in FORM.findall(html):
        attributes = dict(ATTR.findall(attrs))
        if attributes.get("method", "get").lower() != "post":
            continue
        action = unescape(attributes.get("action") or page)
        if any(skip in action for skip in SKIP_ACTIONS) or not action.startswith("/"):
            continue
        data, texts = {}, []
        for tag, raw in FIELD.findall(body):
            field = dict(ATTR.findall(raw))
            name = field.get("name")
            if not name:
                continue
            kind = field.get("type", "text").lower() if tag.lower() == "input" else tag.lower()
            if kind in ("hidden", "checkbox", "radio", "submit", "select", "button"):
                data.setdefault(name, unescape(field.get("value", "")))
            elif kind != "file":
                texts.append(name)
        forms.append((action, data, texts))
    return forms


def check(response, where: str, failures: list[str]) -> None:
    html = response.get_data(as_text=True)
    if response.status_code >= 500:
        failures.append(f"{where}: {response.status_code}")
    elif SCRIPT in html:
        failures.append(f"{where}: payload shown unescaped")


PASSWORD = "demo-pass-12"
# Each sees pages the others do not (teaching records, the student portal and survey answers, sales).
ROLES = ("admin", "teacher1", "student1", "sales1")


@pytest.fixture
def admin(new_client):
    client = new_client()
    user = make_user("admin")
    login(client, user)
    make_lead(user, name="扫描", memo=SCRIPT[:200])
    return client


@pytest.fixture(params=ROLES)
def demo_client(request, new_client):
    """A demo account's client, on demo data (every page that takes an id has rows to show)."""
    assert seed_demo(password=PASSWORD)
    admin = db.session.scalar(db.select(User).where(User.username == "admin"))
    make_lead(admin, name="扫描", memo=SCRIPT[:200])
    client = new_client()
    login(client, request.param, PASSWORD)
    return client


def test_every_id_argument_of_a_route_has_seeded_rows_to_sweep(app):
    assert unknown_id_arguments(app) == set()


def test_every_list_parameter_refuses_bad_input_without_a_500(app, demo_client):
    admin = demo_client
    failures: list[str] = []
    pages = reachable_pages(app, admin)
    assert any(re.search(r"/\d+", page) for page in pages)  # pages that take an id were reached
    for page in pages:
        first = admin.get(page)
        if first.status_code != 200 or "html" not in first.content_type:
            continue
        names = params_of(first.get_data(as_text=True))
        for label, payload in PAYLOADS.items():
            encoded = payload if label == "surrogate" else quote(payload)
            query = "&".join(f"{quote(name)}={encoded}" for name in sorted(names))
            check(admin.get(f"{page}?{query}"), f"GET {page} [{label}]", failures)
    assert failures == []
    home = admin.get("/")  # still signed in: the sweep really ran as this role
    assert home.status_code == 200 or "/auth/login" not in home.location


def test_every_form_field_refuses_bad_input_without_a_500(app, demo_client):
    admin = demo_client
    failures: list[str] = []
    tried = 0
    for page in reachable_pages(app, admin):
        first = admin.get(page)
        if first.status_code != 200 or "html" not in first.content_type:
            continue
        for action, data, texts in post_forms(first.get_data(as_text=True), page):
            if not texts:
                continue
            for label, payload in PAYLOADS.items():
                value = "a\ud800b" if label == "surrogate" else payload
                body = dict(data, **{name: value for name in texts})
                try:
                    response = admin.post(action, data=_form_body(body),
                                          content_type="application/x-www-form-urlencoded")
                except Exception as error:  # noqa: BLE001 - the sweep reports, it does not stop
                    failures.append(f"POST {action} [{label}]: {error!r}")
                    continue
                tried += 1
                check(response, f"POST {action} [{label}]", failures)
                if response.status_code in (302, 303) and response.location.startswith("/"):
                    check(admin.get(response.location), f"after POST {action} [{label}]", failures)
    assert failures == []
    assert tried >= 4 * 2  # the discovery found this role's forms


def _form_body(body: dict[str, str]) -> bytes:
    """The urlencoded body; a lone surrogate goes as the bytes a client would send (CESU-8 style)."""
    return "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
        for k, v in body.items()
    ).encode("ascii")


def test_every_page_with_a_confirm_question_loads_the_confirm_script(app, admin):
    """Flask-Admin pages too (issue 12, item 9): a misclick must not deactivate a colleague."""
    from crm.auth.models import User

    make_user("consultant")
    users = [u.id for u in db.session.scalars(db.select(User).limit(3))]
    pages = get_pages(app) + [f"/auth/users/{uid}/edit" for uid in users]
    asking = []
    for page in pages:
        response = admin.get(page)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        html = response.get_data(as_text=True)
        if "data-confirm=" in html:
            asking.append(page)
            assert "js/shell.js" in html, page
    assert "/admin/users/" in asking
