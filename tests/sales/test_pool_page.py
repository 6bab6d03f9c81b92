"""S-16 pool page: who is listed, hidden contacts, filters, grab/assign through the views."""
from __future__ import annotations

import datetime as dt

import pytest

from crm.core import clock
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer
from tests.factories import login, make_course, make_user
from tests.sales.lead_factories import make_lead

TODAY = dt.date(2026, 3, 20)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def rows_of(html: str) -> set[int]:
    import re

    return {int(x) for x in re.findall(r'data-lead="(\d+)"', html)}


def test_pool_lists_unassigned_and_expired_today_but_not_held_or_enrolled(client):
    alice, bob = make_user("consultant"), make_user("consultant")
    unassigned = make_lead(None, phone="13800000001", email="u@example.com")
    expired_today = make_lead(alice, received_on=dt.date(2026, 3, 12), last_follow_up_on=dt.date(2026, 3, 16))
    fresh = make_lead(alice, received_on=dt.date(2026, 3, 19))
    enrolled = make_lead(None, status=choices.ENROLLED)
    login(client, bob)
    page = client.get("/sales/pool")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert rows_of(html) >= {unassigned.id, expired_today.id}
    assert not rows_of(html) & {fresh.id, enrolled.id}
    for secret in (unassigned.qq, "13800000001", "u@example.com", expired_today.qq):
        assert secret not in html


def test_pool_filters_source_course_dates_and_reason(client):
    alice, bob = make_user("consultant"), make_user("consultant")
    python = make_course()
    a = make_lead(None, source=4, courses=[python], inquiry_date=dt.date(2026, 2, 1))
    b = make_lead(None, source=5, inquiry_date=dt.date(2026, 3, 1))
    c = make_lead(alice, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 19), source=4)  # reason 4
    d = make_lead(alice, received_on=dt.date(2026, 3, 12), last_follow_up_on=dt.date(2026, 3, 16), source=4)  # reason 3
    mine = {a.id, b.id, c.id, d.id}
    login(client, bob)

    def ids(qs):
        return rows_of(client.get("/sales/pool?" + qs + "&per_page=200").get_data(as_text=True)) & mine

    assert ids("source=4") == {a.id, c.id, d.id}
    assert ids(f"course={python.id}") == {a.id}
    assert ids("from=2026-02-15&to=2026-03-01") == {b.id, c.id, d.id}
    assert ids("reason=1") == {a.id, b.id}
    assert ids("reason=3") == {d.id}
    assert ids("reason=4") == {c.id}
    # Garbage is ignored, never a 500.
    assert client.get("/sales/pool?source=abc&from=2026-99-01&reason=<script>&page=-3").status_code == 200


def test_grab_through_the_view_and_the_refusal_message(client):
    alice, bob = make_user("consultant"), make_user("consultant")
    lead = make_lead(None)
    login(client, alice)
    answer = client.post(f"/sales/pool/{lead.id}/grab", data={"next": "/sales/pool"})
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).consultant_id == alice.id
    client.post("/auth/logout")
    login(client, bob)
    answer = client.post(f"/sales/pool/{lead.id}/grab", data={"next": "https://evil.example/"},
                         follow_redirects=True)
    from flask_babel import gettext

    assert gettext("Someone else has already taken this lead.") in answer.get_data(as_text=True)
    assert answer.request.path == "/sales/pool"


def test_grab_is_post_only_and_assign_needs_the_permission(client):
    alice = make_user("consultant")
    lead = make_lead(None)
    login(client, alice)
    assert client.get(f"/sales/pool/{lead.id}/grab").status_code == 405
    assert client.post(f"/sales/pool/{lead.id}/assign", data={"consultant_id": alice.id}).status_code == 403


def test_director_assigns_from_the_pool_page(client):
    director, alice = make_user("sales_director"), make_user("consultant")
    lead = make_lead(None)
    login(client, director)
    html = client.get("/sales/pool").get_data(as_text=True)
    assert 'data-testid="assign"' in html
    assert client.post(f"/sales/pool/{lead.id}/assign", data={"consultant_id": "x"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).consultant_id is None
    client.post(f"/sales/pool/{lead.id}/assign", data={"consultant_id": alice.id})
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).consultant_id == alice.id


def test_staff_without_pool_permission_gets_403(client):
    login(client, make_user("staff"))
    assert client.get("/sales/pool").status_code == 403


@pytest.mark.committing
def test_grab_needs_a_csrf_token(build_app, clean_database):
    csrf_app = build_app(WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        username = make_user("consultant").username
        lead_id = make_lead(None).id
        db.session.remove()
    client = csrf_app.test_client()
    page = client.get("/auth/login")
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    client.post("/auth/login", data={"username": username, "password": "secret-pass-1",
                                     "csrf_token": token.group(1)})
    assert client.post(f"/sales/pool/{lead_id}/grab").status_code == 400
    with csrf_app.app_context():
        assert db.session.get(Customer, lead_id).consultant_id is None
        db.session.remove()


def test_the_pool_and_my_customers_follow_the_day(client, monkeypatch):
    """Both pages keep their statements per day: the next day's pages see the next day's expiries."""
    from crm.sales.pool.expiry import expiry_of

    alice, bob = make_user("consultant"), make_user("consultant")
    lead = make_lead(alice, received_on=TODAY - dt.timedelta(days=3), last_follow_up_on=TODAY - dt.timedelta(days=3))
    tomorrow = TODAY + dt.timedelta(days=1)
    assert expiry_of(lead, TODAY).expires_on == tomorrow
    login(client, bob)
    holder = client.application.test_client()
    login(holder, alice)
    held = f'data-customer-id="{lead.id}"'
    for _ in range(2):  # the second request is served by the kept statements
        assert lead.id not in rows_of(client.get("/sales/pool").get_data(as_text=True))
        assert held in holder.get("/sales/mine").get_data(as_text=True)
    monkeypatch.setattr(clock, "today", lambda: tomorrow)
    assert lead.id in rows_of(client.get("/sales/pool").get_data(as_text=True))
    assert held not in holder.get("/sales/mine").get_data(as_text=True)
