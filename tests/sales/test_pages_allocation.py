"""The allocation table page (S-3): one-form save, validation, audit, cycle preview."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.sales import allocation
from crm.sales.models import SaleRank
from tests.factories import login, make_user


@pytest.fixture
def table():
    """Consultants A (weight 7, num 2) and B (weight 5, num 5) in the table; C not yet."""
    a = make_user("consultant", name="顾问A")
    b = make_user("consultant", name="顾问B")
    c = make_user("consultant", name="顾问C")
    db.session.add_all([SaleRank(user_id=a.id, weight=7, num=2), SaleRank(user_id=b.id, weight=5, num=5)])
    db.session.commit()
    allocation.mark_table_changed()
    return a, b, c


def form_data(rows, **extra):
    """The posted form: rows as (user, weight, num, active, leave)."""
    data = {}
    for i, (user, weight, num, active, leave) in enumerate(rows):
        data[f"rows-{i}-user_id"] = str(user.id)
        data[f"rows-{i}-weight"] = str(weight)
        data[f"rows-{i}-num"] = str(num)
        if active:
            data[f"rows-{i}-active"] = "y"
        data[f"rows-{i}-on_leave_until"] = leave
    data.update(extra)
    return data


def ranks() -> dict[int, tuple]:
    db.session.expire_all()
    return {r.user_id: (r.weight, r.num, r.active, r.on_leave_until) for r in db.session.scalars(sa.select(SaleRank))}


def preview(html: str) -> str:
    return re.search(r'<p[^>]* id="cycle-preview">([^<]*)<', html).group(1).strip()


def test_page_shows_the_table_and_the_next_cycle(client, table):
    a, b, c = table
    login(client, make_user("sales_director"))
    html = client.get("/sales/allocation").get_data(as_text=True)
    assert preview(html) == "顾问A 顾问B 顾问A 顾问B 顾问B 顾问B 顾问B"
    assert f'data-user-id="{a.id}"' in html and f'data-user-id="{b.id}"' in html
    assert f'<option value="{c.id}">顾问C</option>' in html  # can be added


def test_save_changes_rows_and_adds_a_consultant_in_one_go(client, table):
    a, b, c = table
    director = make_user("sales_director")
    login(client, director)
    response = client.post("/sales/allocation", data=form_data(
        [(a, 7, 1, True, ""), (b, 5, 2, False, "")], new_user_id=str(c.id), new_weight="3", new_num="1"))
    assert response.status_code == 302
    assert ranks() == {a.id: (7, 1, True, None), b.id: (5, 2, False, None), c.id: (3, 1, True, None)}
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "allocation.table"))
    assert entry is not None and entry.actor_id == director.id
    html = client.get("/sales/allocation").get_data(as_text=True)
    assert preview(html) == "顾问A 顾问C"  # B inactive; A and C take one each


@pytest.mark.parametrize("weight,num,leave,extra", [
    ("7", "0", "", {}),
    ("7", "abc", "", {}),
    ("7", "", "", {}),
    ("7", "1001", "", {}),
    ("-1", "2", "", {}),
    ("x", "2", "", {}),
    ("7", "2", "2026-02-31", {}),
    ("7", "2", "", {"new_user_id": "999999"}),
    ("7", "2", "", {"new_user_id": "abc"}),
    ("7", "2", "", {"new_user_id": "__A__", "new_num": "1"}),  # already in the table
])
def test_bad_input_gives_messages_and_saves_nothing(client, table, weight, num, leave, extra):
    a, b, _c = table
    if extra.get("new_user_id") == "__A__":
        extra = dict(extra, new_user_id=str(a.id))
    before = ranks()
    login(client, make_user("sales_director"))
    data = form_data([(a, weight, num, True, leave), (b, 9, 9, True, "")], **extra)
    response = client.post("/sales/allocation", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "invalid-feedback" in html or "alert-danger" in html
    assert ranks() == before
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "allocation.table")) is None


def test_tampered_row_user_is_refused(client, table):
    a, b, c = table
    before = ranks()
    login(client, make_user("sales_director"))
    for bad in (str(c.id), "abc", ""):
        data = form_data([(a, 7, 3, True, ""), (b, 5, 5, True, "")])
        data["rows-1-user_id"] = bad
        response = client.post("/sales/allocation", data=data)
        assert response.status_code == 400, bad
        assert ranks() == before


def test_leave_date_is_saved(client, table):
    a, b, _c = table
    login(client, make_user("sales_director"))
    client.post("/sales/allocation", data=form_data([(a, 7, 2, True, "2099-01-31"), (b, 5, 5, True, "")]))
    assert str(ranks()[a.id][3]) == "2099-01-31"
