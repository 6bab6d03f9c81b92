"""Pool page: the search box, and the grab button only where the viewer may grab (S-16, S-17)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from crm.core import clock
from crm.extensions import db
from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead

TODAY = dt.date(2026, 3, 20)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def rows_of(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-lead="(\d+)"', html)}


def test_pool_search_by_name_qq_phone_and_email(client):
    wanted = make_lead(None, name="Wanda", qq="660000001", phone="13600000001", email="wanda@example.com")
    other = make_lead(None, name="Otto")
    login(client, make_user("consultant"))
    assert rows_of(client.get("/sales/pool").get_data(as_text=True)) >= {wanted.id, other.id}
    for q in ("Wan", "660000001", "13600000001", "wanda@example.com"):
        html = client.get("/sales/pool", query_string={"q": q}).get_data(as_text=True)
        assert rows_of(html) == {wanted.id}, q
        assert f'value="{q}"' in html  # kept in the form (and the URL)


def test_the_grab_button_is_hidden_on_a_lead_the_viewer_lost(client):
    alice = make_user("consultant")
    lost = make_lead(alice, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))  # expired
    free = make_lead(None)
    login(client, alice)
    html = client.get("/sales/pool").get_data(as_text=True)
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r'data-lead="(\d+)"(.*?)</tr>', html, re.S)}
    assert 'data-testid="grab"' in rows[free.id]
    assert 'data-testid="grab"' not in rows[lost.id] and 'data-testid="no-grab"' in rows[lost.id]
    db.session.rollback()
