"""S-11: a lead held by a consultant is theirs alone; directors, the CEO and admins see all."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.sales import choices
from crm.sales.leads import privacy
from crm.sales.models import ConsultRecord, Customer
from tests.factories import login, make_user
from tests.sales.lead_factories import close_holding, make_lead


@pytest.fixture
def held():
    """A lead held by one consultant (followed up today) and another consultant."""
    holder = make_user("consultant")
    other = make_user("consultant")
    lead = make_lead(holder, name="隐私客户", qq="77665544", phone="13512345678", email="secret@example.com",
                     received_on=clock.today())
    return holder, other, lead


@pytest.mark.parametrize("method,suffix", [("get", ""), ("get", "/edit"), ("post", "/edit"),
                                           ("get", "/history"), ("post", "/follow-ups")])
def test_another_consultant_gets_403(client, held, method, suffix):
    _holder, other, lead = held
    login(client, other)
    data = {"note": "sneaky", "qq": "77665544", "name": "改名", "gender": "1", "source": "3"}
    response = getattr(client, method)(f"/sales/leads/{lead.id}{suffix}", data=data if method == "post" else None)
    assert response.status_code == 403
    assert "77665544" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).name == "隐私客户"
    assert db.session.scalar(sa.select(sa.func.count(ConsultRecord.id))) == 0


@pytest.mark.parametrize("role", ["sales_director", "ceo", "admin"])
def test_directors_ceo_and_admin_see_every_lead(client, held, role):
    _holder, _other, lead = held
    login(client, make_user(role))
    for suffix in ("", "/history"):
        response = client.get(f"/sales/leads/{lead.id}{suffix}")
        assert response.status_code == 200
    assert "13512345678" in client.get(f"/sales/leads/{lead.id}").get_data(as_text=True)
    assert "77665544" in client.get("/sales/leads").get_data(as_text=True)


def test_ceo_cannot_edit_or_follow_up(client, held):
    _holder, _other, lead = held
    login(client, make_user("ceo"))
    assert client.get(f"/sales/leads/{lead.id}/edit").status_code == 403
    assert client.post(f"/sales/leads/{lead.id}/follow-ups", data={"note": "x"}).status_code == 403


def test_pool_lead_is_open_to_pool_viewers_but_expired_holding_too(client):
    viewer = make_user("consultant")
    pool_lead = make_lead(None)
    holder = make_user("consultant")
    expired = make_lead(holder, received_on=clock.today() - dt.timedelta(days=20),
                        last_follow_up_on=clock.today() - dt.timedelta(days=10))
    login(client, viewer)
    assert client.get(f"/sales/leads/{pool_lead.id}").status_code == 200
    assert client.get(f"/sales/leads/{expired.id}").status_code == 200  # in the pool as of today (S-16)
    # ... but nobody but the holder or a director writes a follow-up on it.
    assert client.post(f"/sales/leads/{expired.id}/follow-ups", data={"note": "x"}).status_code == 403


def test_staff_without_pool_view_cannot_open_a_pool_lead(client):
    login(client, make_user("staff"))
    assert client.get(f"/sales/leads/{make_lead(None).id}").status_code == 403


def test_history_list_masks_contact_details_of_leads_now_held_by_others(client):
    me = make_user("consultant")
    other = make_user("consultant")
    lead = make_lead(other, qq="99887766", phone="13698765432", received_on=clock.today())
    close_holding(lead, me, choices.LOST_NO_CONVERSION, dt.date(2026, 1, 1), dt.date(2026, 1, 16))
    login(client, me)
    html = client.get("/sales/mine?tab=history").get_data(as_text=True)
    assert "99887766" not in html and "13698765432" not in html
    assert "99****66" in html
    assert f'href="/sales/leads/{lead.id}"' not in html


def test_referrer_held_by_another_consultant_is_masked_on_detail(client):
    me = make_user("consultant")
    referrer = make_lead(make_user("consultant"), qq="12121212", received_on=clock.today())
    lead = make_lead(me, received_on=clock.today())
    lead.referred_by_id = referrer.id
    db.session.commit()
    login(client, me)
    html = client.get(f"/sales/leads/{lead.id}").get_data(as_text=True)
    assert "12121212" not in html and "12****12" in html
    assert f'href="/sales/leads/{referrer.id}"' not in html


def test_my_customers_never_lists_another_consultants_leads(client, held):
    _holder, other, lead = held
    login(client, other)
    html = client.get("/sales/mine").get_data(as_text=True)
    assert "77665544" not in html and "隐私客户" not in html


def test_masking_rule():
    assert privacy.mask("13512345678") == "13*******78"
    assert privacy.mask("abc") == "***"
    assert privacy.mask(None) == ""


def test_list_pages_refuse_consultants(client, held):
    _holder, other, _lead = held
    login(client, other)
    assert client.get("/sales/leads").status_code == 403
    assert client.get("/sales/leads/export.xlsx").status_code == 403
