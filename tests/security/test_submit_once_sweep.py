"""Submit once, generated (issue 12): every form of every page, as each demo role, is filled in
and sent; a form whose first send adds rows must carry a one-time token, and the same send
again adds nothing and is sent to the first result.

Forms are found, not listed (tests/security/crawl.py). `MUST_CREATE` only checks that the
sweep really reached the product's create forms (a filler that fails to fill one would
otherwise skip it silently). Forms built by page scripts (the room grid, the survey editor's
questions) are beyond a filler that reads HTML; their tokens are tested in
test_submit_once_pages.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.demo import seed_demo
from crm.extensions import db
from tests.factories import login, logout
from tests.security.crawl import parse_forms, reachable_pages

PASSWORD = "demo-pass-12"
USERS = ("admin", "director", "sales1", "teacher1", "tutor1", "staff1", "student1")
# Forms that change who may do what or end a sign-in: sent by the sweep they would lock it out.
DESTRUCTIVE = ("/logout", "/reset-password", "/deactivate", "/delete", "/action", "/roles", "/permissions",
               "/change-password", "/regenerate", "/resend", "/publish")
MUST_CREATE = {
    "sales.lead_new", "sales.follow_up_add", "sales.payment_create", "sales.pool_assign",
    "teaching.session_create", "surveys.copy", "surveys.take",
    "auth.user_create", "auth.role_create", "api_tokens.token_create",
    "schools.create_view", "courses.create_view", "classes.create_view", "departments.create_view",
    "rooms_admin.create_view",
}
# Rows that record an action (an edit writes one too); what a form creates is elsewhere.
LOGS = {"audit_log"}
_serial = itertools.count(1)
DEBUG = __import__("os").environ.get("SWEEP_DEBUG")


def row_counts() -> dict[str, int]:
    db.session.expire_all()
    return {table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in db.metadata.sorted_tables if table.name not in LOGS}


def filled(form, *, optional: bool) -> list[tuple[str, str]] | None:
    """The form as a person would send it: what it shows, plus a plausible value in each empty
    required field (`optional`: in every empty field); None for an upload form (no file to give it)."""
    day = clock.today() + dt.timedelta(days=21)
    n = next(_serial)
    body, radios = [], {}
    ticked = {f.name for f in form.fields if f.kind == "checkbox" and f.checked}
    if optional:  # in a group of boxes none of which is ticked, tick the last one (the latest free slot)
        for field in reversed(form.fields):
            if field.kind == "checkbox" and field.name not in ticked:
                ticked.add(field.name)
                field = dataclasses.replace(field, checked=True)
                body.append((field.name, field.value or "on"))
    for field in form.fields:
        kind, name, value = field.kind, field.name, field.value
        if kind == "file":
            if field.required:
                return None
        elif kind in ("submit", "button", "reset", "image"):
            continue
        elif kind == "checkbox":
            if field.checked:
                body.append((name, value or "on"))
        elif kind == "radio":
            if field.checked or (field.required and name not in radios):
                radios[name] = value
        elif kind == "select":
            chosen = [o for o in field.selected if o != "__None"] \
                or [next((o for o in field.options if o and o != "__None"), "")]
            body += [(name, option) for option in chosen if option or not field.multiple]
        elif value.strip() or kind == "hidden" or not (field.required or optional):
            body.append((name, value))  # what it shows; an optional empty field stays empty
        elif kind == "date" or name.endswith("date") or name.endswith("_on"):
            body.append((name, day.isoformat()))
        elif kind == "datetime-local" or name.endswith("_at"):
            body.append((name, f"{day.isoformat()}T{9 + (name == 'closes_at') * 8}:00"))
        elif any(part in name for part in ("amount", "price", "code")):
            body.append((name, str(1000 + n)))
        elif kind == "number" or name.endswith(("_no", "semester", "capacity")):
            body.append((name, str(2 + n % 90)))
        elif kind == "email" or "email" in name:
            body.append((name, f"sweep{n}@school.example"))
        elif "phone" in name:
            body.append((name, f"139{n:08d}"))
        elif name == "qq":
            body.append((name, f"{9000000 + n}"))
        else:
            body.append((name, f"sweep{n}x".ljust(field.minlength, "x")))
    body += list(radios.items())
    return body


def encoded(body: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in body)


@pytest.fixture
def demo(app, new_client):
    assert seed_demo(password=PASSWORD)
    db.session.flush()
    return new_client


def test_every_form_that_creates_rows_saves_once_when_sent_twice(app, demo):
    created: dict[str, str] = {}
    failures: list[str] = []
    for username in USERS:
        client = demo()
        login(client, username, PASSWORD)
        seen = set()
        for page in reachable_pages(app, client):
            html = client.get(page).get_data(as_text=True)
            for form in parse_forms(html, page):
                action = urlsplit(form.action).path
                if form.method != "post" or not action.startswith("/") or "/language/" in action \
                        or action.rstrip("/").endswith(DESTRUCTIVE):
                    continue
                endpoint = app.url_map.bind("localhost").match(action, method="POST")[0]
                if endpoint in seen:
                    continue
                added = {}
                for optional in (True, False):  # every field filled in, else only the required ones
                    body = filled(form, optional=optional)
                    if body is None:
                        break
                    before = row_counts()
                    first = client.post(action, data=encoded(body),
                                        content_type="application/x-www-form-urlencoded")
                    after = row_counts()
                    if first.status_code >= 500:
                        failures.append(f"{username} POST {action}: {first.status_code}")
                        break
                    added = {t: after[t] - before[t] for t in after if after[t] > before[t]}
                    if added:
                        break
                if not added:
                    if DEBUG and body is not None:
                        import re
                        text = re.sub(r"<[^>]+>", " ", first.get_data(as_text=True))
                        print("NOCREATE", username, endpoint, first.status_code, first.location,
                              re.findall(r"invalid-feedback[^>]*>([^<]*)", first.get_data(as_text=True))[:3],
                              body[:12], " ".join(text.split())[-300:] if first.status_code != 302 else "")
                    continue
                seen.add(endpoint)
                created[endpoint] = f"{username} {page}"
                if not form.token:
                    failures.append(f"{endpoint} (form on {page}) adds {added} but carries no submission token")
                    continue
                again = client.post(action, data=encoded(body), content_type="application/x-www-form-urlencoded")
                repeated = row_counts()
                if repeated != after:
                    failures.append(f"{endpoint}: sent twice, rows {added} then "
                                    f"{ {t: repeated[t] - after[t] for t in after if repeated[t] != after[t]} }")
                if again.status_code not in (302, 303):
                    failures.append(f"{endpoint}: the repeat answered {again.status_code}, not the first result")
        logout(client)
    assert failures == [], "\n".join(failures)
    assert MUST_CREATE - set(created) == set(), sorted(created)
