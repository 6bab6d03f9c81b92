"""Editing a lead: holder or director, intake rules, QQ/phone/e-mail uniqueness, safe redirect."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.core.audit import AuditLog
from crm.extensions import db
from crm.sales.models import Customer
from tests.factories import login, make_course, make_user
from tests.sales.lead_factories import make_lead, use_english


def edit_form(lead: Customer, **overrides) -> dict:
    data = {"qq": lead.qq, "name": lead.name, "gender": str(lead.gender), "source": str(lead.source),
            "education": "0", "experience": "0", "work_status": "0", "phone": lead.phone or "",
            "email": lead.email or ""}
    data.update(overrides)
    return data


def fresh(lead: Customer) -> Customer:
    db.session.expire_all()
    return db.session.get(Customer, lead.id)


def test_holder_edits_and_returns_to_the_list(client):
    holder = make_user("consultant")
    course = make_course()
    lead = make_lead(holder, received_on=clock.today())
    login(client, holder)
    assert 'value="%s"' % lead.qq in client.get(f"/sales/leads/{lead.id}/edit").get_data(as_text=True)
    response = client.post(f"/sales/leads/{lead.id}/edit?next=/sales/mine?page=1", data=edit_form(
        lead, name="新名字", phone="+86 139 0000 1111", email="New@Example.com", education="2",
        course_ids=[str(course.id)]))
    assert response.status_code == 302 and response.headers["Location"] == "/sales/mine?page=1"
    saved = fresh(lead)
    assert (saved.name, saved.phone, saved.email, saved.education) == ("新名字", "13900001111", "new@example.com", 2)
    assert [c.id for c in saved.courses] == [course.id]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "lead.edit"))
    assert entry is not None and "新名字" in entry.detail


def test_unsafe_next_goes_to_the_detail_page(client):
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=clock.today())
    login(client, holder)
    response = client.post(f"/sales/leads/{lead.id}/edit?next=https://evil.example/x", data=edit_form(lead))
    assert response.headers["Location"] == f"/sales/leads/{lead.id}"


@pytest.mark.parametrize("field,taken,typed", [
    ("qq", "11112222", "11112222"),
    ("phone", "13812345678", "138-1234-5678"),
    ("email", "taken@example.com", "TAKEN@example.com"),
])
def test_uniqueness_is_rechecked_with_a_clear_message(client, field, taken, typed):
    holder = make_user("consultant")
    make_lead(None, **{field: taken})
    lead = make_lead(holder, received_on=clock.today())
    login(client, holder)
    use_english(client)
    response = client.post(f"/sales/leads/{lead.id}/edit", data=edit_form(lead, name="改了", **{field: typed}))
    assert response.status_code == 400
    assert "Another lead already has this" in response.get_data(as_text=True)
    assert fresh(lead).name != "改了"


@pytest.mark.parametrize("overrides", [{"qq": "12"}, {"name": ""}, {"phone": "abc"}, {"referred_by": "__self__"},
                                       {"gender": "5"}, {"course_ids": ["99999"]}])
def test_bad_edits_save_nothing(client, overrides):
    holder = make_user("consultant")
    lead = make_lead(holder, name="原名", received_on=clock.today())
    if overrides.get("referred_by") == "__self__":
        overrides = {"referred_by": lead.qq}
    login(client, holder)
    response = client.post(f"/sales/leads/{lead.id}/edit", data=edit_form(lead, memo="changed", **overrides))
    assert response.status_code == 400
    assert fresh(lead).memo is None


def test_director_edits_another_consultants_lead(client):
    lead = make_lead(make_user("consultant"), received_on=clock.today())
    login(client, make_user("sales_director"))
    response = client.post(f"/sales/leads/{lead.id}/edit", data=edit_form(lead, name="主管改"))
    assert response.status_code == 302
    assert fresh(lead).name == "主管改"


def test_keeping_own_qq_phone_email_is_not_a_duplicate(client):
    holder = make_user("consultant")
    lead = make_lead(holder, phone="13700001111", email="me@example.com", received_on=clock.today())
    login(client, holder)
    assert client.post(f"/sales/leads/{lead.id}/edit", data=edit_form(lead, memo="ok")).status_code == 302
    assert fresh(lead).memo == "ok"
