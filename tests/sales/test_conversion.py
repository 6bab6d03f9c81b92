"""S-18 conversion, payments, transfer / drop-out / refund, student record (S-19)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from crm.auth.models import User
from crm.core import clock
from crm.core.audit import AuditLog
from crm.core.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution, PaymentRecord
from crm.sales.payments import services as payments
from crm.students import services as student_services
from crm.students.models import Enrollment, Student
from tests.factories import login, logout, make_class, make_user
from tests.sales.lead_factories import make_lead
from tests.sales.pool_helpers import history

TODAY = dt.date(2026, 3, 20)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def held_lead(consultant, **fields):
    """A lead the consultant holds and has followed up recently, so it has not expired (S-14)."""
    fields.setdefault("received_on", dt.date(2026, 3, 10))
    fields.setdefault("last_follow_up_on", dt.date(2026, 3, 17))
    return make_lead(consultant, **fields)


def pay(actor, lead, **data):
    base = {"pay_type": choices.PAY_TUITION, "paid_amount": "5000", "date": "2026-03-18"}
    base.update(data)
    return payments.record_payment(actor.id, lead.id, base, today=TODAY)


def test_first_tuition_converts_in_one_go():
    alice = make_user("consultant")
    klass = make_class()
    lead = held_lead(alice, email="stu@example.com")
    result = pay(alice, lead, class_id=str(klass.id), deal_amount="19800", quoted_amount="21,000")
    db.session.commit()
    assert result.converted and result.initial_password
    db.session.refresh(lead)
    assert lead.status == choices.ENROLLED
    student = db.session.scalar(sa.select(Student).where(Student.customer_id == lead.id))
    user = db.session.get(User, student.user_id)
    assert (user.username, user.kind, user.must_change_password) == (lead.qq, "student", True)
    assert [r.name for r in user.roles] == ["student"]
    assert user.check_password(result.initial_password)
    [enrollment] = db.session.scalars(sa.select(Enrollment).where(Enrollment.student_id == student.id)).all()
    assert (enrollment.class_id, enrollment.joined_on, enrollment.left_on) == (klass.id, dt.date(2026, 3, 18), None)
    [row] = history(lead.id)
    assert (row.status, row.ended_on) == (choices.CONVERTED, dt.date(2026, 3, 18))
    payment = result.payment
    assert (payment.paid_amount, payment.deal_amount, payment.quoted_amount, payment.consultant_id) == \
        (5000, 19800, 21000, alice.id)
    actions = set(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.action.in_(
        ["lead.convert", "payment.create"]))))
    assert actions == {"lead.convert", "payment.create"}
    [mail] = db.session.scalars(sa.select(Notification).where(Notification.kind == "student_account")).all()
    assert mail.to_address == "stu@example.com"
    assert result.initial_password in mail.body_text and lead.qq in mail.body_text
    # A second payment records money only.
    again = pay(alice, lead, pay_type=choices.PAY_DEPOSIT, paid_amount="100")
    assert not again.converted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Student)) >= 1


def test_username_gets_a_suffix_when_the_qq_is_taken():
    alice = make_user("consultant")
    lead = held_lead(alice)
    make_user(username=lead.qq)
    make_user(username=f"{lead.qq}-2")
    result = pay(alice, lead, class_id=str(make_class().id))
    assert result.username == f"{lead.qq}-3"


def test_failure_after_the_student_insert_writes_nothing(monkeypatch):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    users_before = db.session.scalar(sa.select(sa.func.count()).select_from(User))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(student_services, "enrol", boom)
    with pytest.raises(RuntimeError):
        pay(alice, lead, class_id=str(klass.id))
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).status == choices.NOT_ENROLLED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Student).where(Student.customer_id == lead.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentRecord).where(
        PaymentRecord.customer_id == lead.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users_before
    assert history(lead.id)[0].status == choices.FOLLOWING


def test_failure_inside_the_view_rolls_back_and_answers_500(client, monkeypatch, app):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    monkeypatch.setattr(student_services, "enrol", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    login(client, alice)
    answer = client.post(f"/sales/leads/{lead.id}/payments/new", data={
        "pay_type": "2", "class_id": str(klass.id), "paid_amount": "5000", "date": "2026-03-18"})
    assert answer.status_code == 500
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).status == choices.NOT_ENROLLED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Student).where(Student.customer_id == lead.id)) == 0


@pytest.mark.parametrize("raw, message", [
    ("12.5", "Amounts are whole yuan: no decimals."),
    (12.5, "Amounts are whole yuan: no decimals."),
    ("-5", "The amount cannot be negative."),
    ("99999999999999999999", "The amount may be at most %(n)s yuan."),
    ("20000000", "The amount may be at most %(n)s yuan."),
    ("abc", "Enter an amount in whole yuan, digits only."),
    ("<script>", "Enter an amount in whole yuan, digits only."),
    ("", "Enter an amount in whole yuan."),
    ("0", "A deposit or tuition payment must be more than 0 yuan."),
])
def test_bad_amounts_are_refused_with_a_clear_message(raw, message):
    alice = make_user("consultant")
    lead = held_lead(alice)
    with pytest.raises(DomainError) as caught:
        pay(alice, lead, class_id=str(make_class().id), paid_amount=raw)
    assert caught.value.message == gettext(message, n=f"{payments.MAX_AMOUNT:,}")
    assert caught.value.field == "paid_amount"


@pytest.mark.parametrize("data, field", [
    ({"date": "2026-03-21"}, "date"),
    ({"date": "yesterday"}, "date"),
    ({"pay_type": "9"}, "pay_type"),
    ({"pay_type": "x"}, "pay_type"),
    ({"class_id": "999999"}, "class_id"),
    ({"class_id": ""}, "class_id"),
    ({"pay_type": "3"}, "pay_type"),  # transfer before enrolment
])
def test_bad_fields_are_refused(data, field):
    alice = make_user("consultant")
    lead = held_lead(alice)
    with pytest.raises(DomainError) as caught:
        pay(alice, lead, **data)
    assert caught.value.field == field


def test_only_the_holder_or_a_director_records_payments():
    alice, bob, director = make_user("consultant"), make_user("consultant"), make_user("sales_director")
    lead = held_lead(alice)
    klass = make_class()
    with pytest.raises(Forbidden):
        pay(bob, lead, class_id=str(klass.id))
    result = pay(director, lead, class_id=str(klass.id))
    assert result.converted and result.payment.consultant_id == alice.id


def test_transfer_drop_out_and_refund():
    alice = make_user("consultant")
    lead = make_lead(alice, received_on=dt.date(2026, 3, 1))
    first, second = make_class(), make_class()
    pay(alice, lead, class_id=str(first.id), date="2026-03-02")
    student = student_services.student_of(lead.id)
    pay(alice, lead, pay_type="3", class_id=str(second.id), paid_amount="0", date="2026-03-10")
    rows = student_services.enrollments_of(student.id)
    assert [(e.class_id, e.joined_on, e.left_on, e.end_reason) for e in rows] == [
        (first.id, dt.date(2026, 3, 2), dt.date(2026, 3, 10), "transfer"),
        (second.id, dt.date(2026, 3, 10), None, None)]
    with pytest.raises(DomainError):  # already there
        pay(alice, lead, pay_type="3", class_id=str(second.id), paid_amount="0")
    pay(alice, lead, pay_type="5", paid_amount="1200", date="2026-03-15")
    pay(alice, lead, pay_type="4", paid_amount="0", date="2026-03-16")
    rows = student_services.enrollments_of(student.id)
    assert rows[-1].left_on == dt.date(2026, 3, 16) and rows[-1].end_reason == "drop_out"
    with pytest.raises(DomainError):  # nothing left to drop
        pay(alice, lead, pay_type="4", paid_amount="0")
    all_payments = payments.payments_of(lead.id)
    assert payments.net_paid(all_payments) == 5000 - 1200
    with pytest.raises(DomainError):
        pay(alice, lead, pay_type="5", paid_amount="0")


def test_converted_leads_never_expire_and_are_not_in_the_pool():
    from crm.sales.pool.expiry import expiry_of

    alice = make_user("consultant")
    lead = make_lead(alice, received_on=dt.date(2026, 3, 1))
    pay(alice, lead, class_id=str(make_class().id), date="2026-03-02")
    db.session.refresh(lead)
    assert expiry_of(lead, dt.date(2027, 1, 1)).expired is False


def test_view_shows_the_password_once_and_the_student_must_change_it(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    login(client, alice)
    form = client.get(f"/sales/leads/{lead.id}/payments/new")
    assert form.status_code == 200
    bad = client.post(f"/sales/leads/{lead.id}/payments/new", data={
        "pay_type": "2", "class_id": str(klass.id), "paid_amount": "1.5", "date": "2026-03-18"})
    assert bad.status_code == 400
    assert gettext("Amounts are whole yuan: no decimals.") in bad.get_data(as_text=True)
    done = client.post(f"/sales/leads/{lead.id}/payments/new", data={
        "pay_type": "2", "class_id": str(klass.id), "paid_amount": "5000", "date": "2026-03-18"})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    password = re.search(r'data-testid="one-time-password">([^<]+)<', done.get_data(as_text=True)).group(1)
    student = student_services.student_of(lead.id)
    page = client.get(f"/sales/students/{student.id}")
    assert page.status_code == 200 and password not in page.get_data(as_text=True)
    logout(client)
    answer = login(client, lead.qq, password)
    assert answer.status_code == 302 and "/auth/password" in answer.headers["Location"]
    assert client.get("/").status_code == 302  # forced to change first


def test_student_record_edit_and_privacy(client):
    alice, bob = make_user("consultant"), make_user("consultant")
    lead = held_lead(alice)
    pay(alice, lead, class_id=str(make_class().id))
    db.session.commit()
    student = student_services.student_of(lead.id)
    login(client, bob)
    assert client.get(f"/sales/students/{student.id}").status_code == 403
    logout(client)
    login(client, alice)
    bad = client.post(f"/sales/students/{student.id}", data={"salary": "8k", "company": "x" * 200})
    assert bad.status_code == 400
    ok = client.post(f"/sales/students/{student.id}", data={
        "emergency_contact": "母亲 139", "company": "<script>alert(1)</script>", "salary": "8000",
        "placement_date": "2026-07-01", "location": "北京"})
    assert ok.status_code == 302
    html = client.get(f"/sales/students/{student.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    db.session.refresh(student)
    assert (student.salary, student.placement_date, student.location) == (8000, dt.date(2026, 7, 1), "北京")
    listing = client.get("/sales/students").get_data(as_text=True)
    assert lead.name in listing


def test_a_lead_expired_by_the_payment_date_must_be_grabbed_first():
    alice = make_user("consultant")
    lead = make_lead(alice, received_on=dt.date(2026, 3, 10), last_follow_up_on=dt.date(2026, 3, 10))
    with pytest.raises(DomainError) as refused:
        pay(alice, lead, class_id=str(make_class().id), date="2026-03-18")  # expired on 14 March (S-14)
    assert refused.value.message == gettext(
        "This lead had expired by the payment date and is back in the public pool; grab it before recording a payment.")
    db.session.rollback()
    db.session.refresh(lead)
    assert lead.status == choices.NOT_ENROLLED and payments.payments_of(lead.id) == []
    # A payment made while she still held it is hers to record.
    result = pay(alice, lead, class_id=str(make_class().id), date="2026-03-12")
    assert result.converted


def test_a_grab_between_reading_and_saving_the_payment_leaves_the_new_holder_alone():
    alice, bob = make_user("consultant"), make_user("consultant")
    lead = held_lead(alice)
    klass = make_class()
    # Bob takes the lead (committed elsewhere) while Alice's copy still says she holds it.
    db.session.execute(sa.update(CustomerDistribution).where(CustomerDistribution.customer_id == lead.id)
                       .values(status=choices.LOST_NO_FOLLOW_UP, ended_on=TODAY),
                       execution_options={"synchronize_session": False})
    db.session.execute(sa.update(Customer).where(Customer.id == lead.id).values(consultant_id=bob.id),
                       execution_options={"synchronize_session": False})
    db.session.add(CustomerDistribution(customer_id=lead.id, consultant_id=bob.id, started_on=TODAY,
                                        status=choices.FOLLOWING, origin=choices.ORIGIN_GRAB))
    db.session.flush()
    assert lead.consultant_id == alice.id  # the stale copy
    with pytest.raises(Conflict):
        payments._convert(alice.id, lead, klass.id, TODAY)
    open_rows = [r for r in history(lead.id) if r.status == choices.FOLLOWING]
    assert [r.consultant_id for r in open_rows] == [bob.id]


def test_the_payment_form_reports_every_bad_field_at_once(client):
    alice = make_user("consultant")
    lead = held_lead(alice)
    login(client, alice)
    bad = client.post(f"/sales/leads/{lead.id}/payments/new", data={
        "pay_type": "2", "class_id": "", "paid_amount": "1.5", "date": "2026-13-45", "deal_amount": "-3"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert gettext("Amounts are whole yuan: no decimals.") in html
    assert gettext("Choose the class the student joins.") in html
    assert html.count("invalid-feedback") >= 4  # amount, deal amount, date and class, each under its field
    assert db.session.query(PaymentRecord).count() == 0
