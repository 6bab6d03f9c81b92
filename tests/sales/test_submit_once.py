"""Submit once (P-5): a form sent twice, or by two requests at once, creates one row (crm.core.once)."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.sales.models import ConsultRecord, Customer, PaymentRecord, SaleRank
from tests.concurrency import run_threads
from tests.factories import login, make_class, make_user
from tests.sales.lead_factories import make_lead

TODAY = dt.date(2026, 3, 20)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def token() -> str:
    return uuid.uuid4().hex


def held_lead(consultant):
    return make_lead(consultant, received_on=dt.date(2026, 3, 10), last_follow_up_on=dt.date(2026, 3, 17))


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def payment_form(klass, submission: str | None) -> dict:
    data = {"pay_type": "2", "class_id": str(klass.id), "paid_amount": "5000", "date": "2026-03-18"}
    if submission is not None:
        data["submission_token"] = submission
    return data


def test_the_forms_carry_a_fresh_token_each_time(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    login(client, alice)
    pattern = r'name="submission_token" value="([0-9a-f]{32})"'
    first = re.search(pattern, client.get(f"/sales/leads/{lead.id}/payments/new").get_data(as_text=True))
    second = re.search(pattern, client.get(f"/sales/leads/{lead.id}/payments/new").get_data(as_text=True))
    assert first and second and first.group(1) != second.group(1)
    assert re.search(pattern, client.get(f"/sales/leads/{lead.id}").get_data(as_text=True))  # follow-up form


def test_a_payment_sent_twice_is_recorded_once_and_the_repeat_shows_the_result(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    login(client, alice)
    submission = token()
    first = client.post(f"/sales/leads/{lead.id}/payments/new", data=payment_form(klass, submission))
    assert first.status_code == 200  # the conversion page with the one-time password
    again = client.post(f"/sales/leads/{lead.id}/payments/new", data=payment_form(klass, submission))
    assert again.status_code == 302 and "/sales/students/" in again.headers["Location"]
    assert "password" not in again.get_data(as_text=True).lower()
    assert count(PaymentRecord, PaymentRecord.customer_id == lead.id) == 1
    # A new rendering of the form (a new token) records a second payment, as it should.
    client.post(f"/sales/leads/{lead.id}/payments/new", data=payment_form(klass, token()))
    assert count(PaymentRecord, PaymentRecord.customer_id == lead.id) == 2


def test_a_refused_submit_releases_its_token_for_the_corrected_form(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    login(client, alice)
    submission = token()
    bad = client.post(f"/sales/leads/{lead.id}/payments/new",
                      data={**payment_form(klass, submission), "paid_amount": "1.5"})
    assert bad.status_code == 400
    good = client.post(f"/sales/leads/{lead.id}/payments/new", data=payment_form(klass, submission))
    assert good.status_code == 200
    assert count(PaymentRecord, PaymentRecord.customer_id == lead.id) == 1


@pytest.mark.parametrize("submission", [None, "", "not-a-token", "0" * 31, "<script>"])
def test_without_a_valid_token_nothing_is_deduplicated(client, submission):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    login(client, alice)
    for _ in range(2):
        client.post(f"/sales/leads/{lead.id}/payments/new", data=payment_form(klass, submission))
    assert count(PaymentRecord, PaymentRecord.customer_id == lead.id) == 2


def test_a_follow_up_sent_twice_is_saved_once(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    login(client, alice)
    submission = token()
    for _ in range(2):
        answer = client.post(f"/sales/leads/{lead.id}/follow-ups",
                             data={"note": "电话沟通", "submission_token": submission})
        assert answer.status_code == 302
    assert count(ConsultRecord, ConsultRecord.customer_id == lead.id) == 1


def test_a_lead_sent_twice_is_saved_once_without_a_duplicate_error(client):
    login(client, make_user("staff"))
    submission = token()
    data = {"qq": "3456789", "name": "钱七", "gender": "1", "source": "3", "education": "0",
            "experience": "0", "work_status": "0", "submission_token": submission}
    assert client.post("/sales/leads/new", data=data).status_code == 302
    again = client.post("/sales/leads/new", data=data)
    assert again.status_code == 302  # not the 409 "already exists" of a second save
    assert count(Customer, Customer.qq == "3456789") == 1


@pytest.mark.committing
def test_simultaneous_submits_of_one_payment_form_record_one_payment(app, clean_database):
    with app.app_context():
        alice = make_user("consultant")
        lead_id = held_lead(alice).id
        class_id = make_class().id
        username = alice.username
        db.session.add(SaleRank(user_id=alice.id, weight=1, num=1))
        db.session.commit()
    clients = []
    for _ in range(5):
        client = app.test_client()
        login(client, username)
        clients.append(client)
    submission = token()
    statuses = run_threads(app, len(clients), lambda i: clients[i].post(f"/sales/leads/{lead_id}/payments/new", data={
        "pay_type": "2", "class_id": str(class_id), "paid_amount": "5000", "date": "2026-03-18",
        "submission_token": submission}).status_code)
    with app.app_context():
        payments = db.session.scalar(sa.select(sa.func.count()).select_from(PaymentRecord)
                                     .where(PaymentRecord.customer_id == lead_id))
        db.session.remove()
    assert payments == 1
    assert sorted(statuses) == [200, 302, 302, 302, 302]
