"""Single-lead intake: validation, dedupe, allocation, history row, e-mail row (S-1, S-8)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, DomainError
from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales import allocation, choices
from crm.sales.leads import fields, intake
from crm.sales.models import Customer, CustomerDistribution, SaleRank
from tests.factories import make_course, make_user

TODAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def fresh_queue(app):
    """No queue left over from another test (ids repeat across rolled-back tests on SQLite)."""
    allocation.reset_state()
    yield
    allocation.reset_state()


def consultant(weight: int = 5, num: int = 1, email: str | None = "c@example.com", **rank):
    """A consultant in the allocation table."""
    user = make_user("consultant", email=email)
    db.session.add(SaleRank(user_id=user.id, weight=weight, num=num, **rank))
    db.session.commit()
    return user


def lead(**overrides):
    """Minimal valid intake data."""
    data = {"qq": "123456", "name": "张三", "gender": 1, "source": 1}
    data.update(overrides)
    return data


def create(data, channel: str = "form", actor_id=None):
    return intake.create_lead(actor_id, data, channel=channel, today=TODAY)


def errors_of(data, channel: str = "form") -> dict[str, str]:
    with pytest.raises(fields.ValidationFailed) as caught:
        create(data, channel)
    return caught.value.errors


# -- the happy path ----------------------------------------------------------------------------
def test_lead_is_saved_allocated_with_history_audit_and_email(app):
    holder = consultant(email="holder@example.com")
    actor = make_user("consultant")
    course = make_course("Python 全栈")
    result = create(lead(course_ids=[course.id], phone="138 1234 5678", email=" Zhang.San@Example.COM "),
                    actor_id=actor.id)
    db.session.commit()
    customer = db.session.get(Customer, result.customer.id)
    assert result.consultant_id == holder.id == customer.consultant_id
    assert (customer.received_on, customer.last_follow_up_on, customer.inquiry_date) == (TODAY, TODAY, TODAY)
    assert customer.pool_reason is None and customer.status == choices.NOT_ENROLLED
    assert customer.phone == "13812345678" and customer.email == "zhang.san@example.com"
    assert [c.name for c in customer.courses] == ["Python 全栈"]
    assert customer.created_by_id == actor.id and customer.channel == "form"
    [history] = db.session.scalars(
        sa.select(CustomerDistribution).where(CustomerDistribution.customer_id == customer.id))
    assert (history.consultant_id, history.status, history.origin, history.started_on, history.ended_on) == (
        holder.id, choices.FOLLOWING, choices.ORIGIN_AUTO, TODAY, None)
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "lead.allocate",
                                                           AuditLog.object_id == str(customer.id)))
    assert entry.actor_id == actor.id and entry.detail_dict["consultant_id"] == holder.id
    [notification] = [db.session.get(Notification, i) for i in result.notification_ids]
    assert notification.to_address == "holder@example.com" and notification.status == "queued"
    assert notification.kind == "lead_assigned" and notification.recipient_id == holder.id
    assert "张三" in notification.subject and "123456" in notification.body_text
    assert "张三" in notification.body_html


def test_api_channel_records_origin_api_and_defaults_the_source(app):
    consultant()
    data = lead()
    del data["source"]
    result = create(data, channel="api")
    [history] = db.session.scalars(sa.select(CustomerDistribution).where(
        CustomerDistribution.customer_id == result.customer.id))
    assert history.origin == choices.ORIGIN_API
    assert result.customer.source == 3 and result.customer.channel == "api"


def test_consultant_without_email_gets_no_notification_row(app):
    consultant(email=None)
    result = create(lead())
    assert result.consultant_id is not None and result.notification_ids == []


def test_no_eligible_consultant_saves_the_lead_unassigned_in_the_pool(app):
    consultant(active=False)
    result = create(lead())
    db.session.commit()
    customer = db.session.get(Customer, result.customer.id)
    assert result.consultant_id is None and customer.consultant_id is None
    assert customer.pool_reason == choices.POOL_UNASSIGNED and customer.pool_since == TODAY
    assert customer.received_on is None and result.notification_ids == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerDistribution).where(
        CustomerDistribution.customer_id == customer.id)) == 0


def test_redis_outage_saves_the_lead_unassigned_instead_of_losing_it(app, monkeypatch):
    """S-6 / faults: with the queue unreachable (a real client on a port nobody listens on) the lead is kept."""
    import redis as redis_lib

    from tests.smtp_fixtures import free_port

    consultant()
    dead = redis_lib.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    monkeypatch.setitem(app.extensions, "crm_redis", dead)
    monkeypatch.delitem(app.extensions, "crm_alloc_scripts", raising=False)
    result = create(lead(qq="7654321"))
    db.session.commit()
    customer = db.session.get(Customer, result.customer.id)
    assert customer.qq == "7654321" and customer.consultant_id is None
    assert customer.pool_reason == choices.POOL_UNASSIGNED


def test_leads_follow_the_cycle(app):
    b = consultant(weight=5, num=2)
    a = consultant(weight=7, num=1)
    got = [create(lead(qq=str(100000 + i))).consultant_id for i in range(6)]
    assert got == [a.id, b.id, b.id, a.id, b.id, b.id]


def test_unicode_and_markup_are_stored_verbatim(app):
    consultant()
    name = "<script>alert(1)</script>"[:32]
    result = create(lead(name=name, memo="备注 <b>粗体</b> & ünïcødé 🎓", company="北京某某科技有限公司"))
    db.session.commit()
    customer = db.session.get(Customer, result.customer.id)
    assert customer.name == name
    assert customer.memo == "备注 <b>粗体</b> & ünïcødé 🎓"
    notification = db.session.get(Notification, result.notification_ids[0])
    assert "<script>" not in notification.body_html and "&lt;script&gt;" in notification.body_html
    assert name in notification.body_text


def test_choices_accept_codes_digit_strings_and_labels(app):
    consultant()
    result = create(lead(gender="女", education="2", experience="应届毕业", work_status="employed", source="SEO"))
    customer = result.customer
    assert (customer.gender, customer.education, customer.experience, customer.work_status, customer.source) == (
        2, 2, 2, 1, 15)


def test_referrer_by_id_or_qq(app):
    consultant()
    first = create(lead(qq="111111")).customer
    by_id = create(lead(qq="222222", referred_by_id=first.id)).customer
    by_qq = create(lead(qq="333333", referred_by_qq="111111")).customer
    assert by_id.referred_by_id == first.id == by_qq.referred_by_id


def test_inquiry_date_is_taken_when_given(app):
    consultant()
    assert create(lead(inquiry_date="2026-03-01")).customer.inquiry_date == dt.date(2026, 3, 1)


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("qq", ["", "   ", "1234", "1234567890123", "012345", "12a456", "１２３４５x"])
def test_bad_qq_is_refused(app, qq):
    assert "qq" in errors_of(lead(qq=qq))


@pytest.mark.parametrize("qq, stored", [("12345", "12345"), (" 123456789012 ", "123456789012"),
                                        (987654, "987654"), ("１２３４５６", "123456")])
def test_good_qq_is_normalised(app, qq, stored):
    consultant()
    assert create(lead(qq=qq)).customer.qq == stored


@pytest.mark.parametrize("value", [[], ["123456"], {"qq": 1}, True, 12.5])
def test_qq_of_a_wrong_type_is_refused(app, value):
    assert "qq" in errors_of(lead(qq=value))


@pytest.mark.parametrize("raw, canonical", [
    ("13812345678", "13812345678"), ("138 1234 5678", "13812345678"), ("138-1234-5678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"), ("+8613812345678", "13812345678"), ("0086 13812345678", "13812345678"),
    ("8613812345678", "13812345678"), ("010-12345678", "01012345678"), ("(0755) 8765 4321", "075587654321"),
    ("+86 10 1234 5678", "01012345678"), ("０１０－１２３４５６７８", "01012345678"),
])
def test_phone_formats_are_normalised(raw, canonical):
    assert fields.normalise_phone(raw) == canonical


@pytest.mark.parametrize("raw", ["12345", "23812345678", "1381234567", "138123456789", "+1 415 555 0100",
                                 "phone", "1381234567x", "010-123", "+86", "12-34"])
def test_bad_phones_are_refused(raw):
    with pytest.raises(DomainError) as caught:
        fields.normalise_phone(raw)
    assert caught.value.field == "phone"


@pytest.mark.parametrize("raw, canonical", [(" Foo.Bar@Example.COM ", "foo.bar@example.com"),
                                            ("张三@例子.中国", "张三@例子.中国")])
def test_emails_are_normalised(raw, canonical):
    assert fields.normalise_email(raw) == canonical


@pytest.mark.parametrize("raw", ["foo", "foo@", "@example.com", "a b@example.com", "x" * 250 + "@ex.com",
                                 "foo@example..com"])
def test_bad_emails_are_refused(raw):
    with pytest.raises(DomainError) as caught:
        fields.normalise_email(raw)
    assert caught.value.field == "email"


def test_every_bad_field_is_reported_at_once(app):
    errors = errors_of({"qq": "12", "name": "", "gender": 9, "source": "nope", "phone": "123",
                        "email": "bad", "education": 99, "memo": "x" * 2001, "company": "c" * 65,
                        "course_ids": [999999], "referred_by_id": 999999, "inquiry_date": "2099-01-01"})
    assert set(errors) == {"qq", "name", "gender", "source", "phone", "email", "education", "memo", "company",
                           "course_ids", "referred_by_id", "inquiry_date"}


@pytest.mark.parametrize("data, field", [
    ({"name": "名" * 33}, "name"), ({"name": ["x"]}, "name"), ({"name": "a\x00b"}, "name"),
    ({"gender": None}, "gender"), ({"gender": "3"}, "gender"), ({"gender": [1]}, "gender"),
    ({"course_ids": "1,2"}, "course_ids"), ({"course_ids": [1.5]}, "course_ids"),
    ({"course_ids": list(range(1, 30))}, "course_ids"), ({"referred_by_qq": "777777"}, "referred_by_qq"),
    ({"referred_by_id": "abc"}, "referred_by_id"), ({"inquiry_date": "10/03/2026"}, "inquiry_date"),
    ({"inquiry_date": 20260310}, "inquiry_date"), ({"salary": "9" * 33}, "salary"),
    ({"major": {"a": 1}}, "major"),
])
def test_bad_values_are_refused_with_their_field(app, data, field):
    assert field in errors_of(lead(**data))


def test_refused_lead_writes_nothing_and_takes_no_slot(app):
    a = consultant(weight=7)
    b = consultant(weight=5)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Customer))
    errors_of(lead(qq="1"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == before
    assert [create(lead(qq=q)).consultant_id for q in ("200001", "200002")] == [a.id, b.id]


# -- dedupe ------------------------------------------------------------------------------------
def test_duplicates_by_qq_phone_or_email_are_refused(app):
    consultant()
    first = create(lead(qq="555555", phone="13812345678", email="dup@example.com")).customer
    for data, field in ((lead(qq="555555"), "qq"), (lead(qq="555556", phone="+86 138-1234-5678"), "phone"),
                        (lead(qq="555557", email="DUP@Example.com"), "email")):
        with pytest.raises(intake.DuplicateLead) as caught:
            create(data)
        assert caught.value.existing_id == first.id and caught.value.field == field
        assert caught.value.status_code == 409
    assert intake.find_duplicate(None, None, "dup@example.com").id == first.id
    assert intake.find_duplicate(None, None, None) is None


def test_duplicate_takes_no_slot(app):
    a = consultant(weight=7)
    b = consultant(weight=5)
    create(lead(qq="300001"))
    with pytest.raises(intake.DuplicateLead):
        create(lead(qq="300001"))
    assert create(lead(qq="300002")).consultant_id == b.id
    assert create(lead(qq="300003")).consultant_id == a.id


def test_a_duplicate_is_found_by_the_insert_itself(app, monkeypatch):
    """No check before the INSERT: the unique indexes decide, then the lead met is read and named."""
    a = consultant(weight=7)
    b = consultant(weight=5)
    first = create(lead(qq="400001")).customer
    assert first.consultant_id == a.id
    db.session.commit()
    real = intake.find_duplicate
    calls = []
    monkeypatch.setattr(intake, "find_duplicate", lambda *args: calls.append(args) or real(*args))
    assert create(lead(qq="400009")).customer.qq == "400009" and calls == []  # a new lead: never looked for
    db.session.rollback()
    with pytest.raises(intake.DuplicateLead) as caught:
        create(lead(qq="400001"))
    assert caught.value.existing_id == first.id and calls == [("400001", None, None)]
    # The slot taken for the refused lead went back at once: b is next, as if nothing happened.
    assert create(lead(qq="400002")).consultant_id == b.id


def test_a_lead_met_and_deleted_before_it_is_read_is_no_duplicate(app, monkeypatch):
    """The INSERT met a lead that is gone by the next statement: the INSERT is tried again and saves."""
    consultant()
    first = create(lead(qq="410001")).customer
    db.session.commit()
    real = intake.find_duplicate

    def deleted_meanwhile(*args):
        if db.session.get(Customer, first.id) is not None:
            db.session.execute(sa.delete(CustomerDistribution).where(CustomerDistribution.customer_id == first.id))
            db.session.execute(sa.delete(Customer).where(Customer.id == first.id))
            return None
        return real(*args)

    monkeypatch.setattr(intake, "find_duplicate", deleted_meanwhile)
    first_created = first.created_at
    saved = create(lead(qq="410001")).customer
    db.session.flush()
    [row] = db.session.execute(sa.select(Customer.id, Customer.created_at).where(Customer.qq == "410001")).all()
    assert row.id == saved.id and row.created_at > first_created  # the new lead, saved on the second try


def test_a_lead_that_keeps_vanishing_is_a_clear_conflict_and_takes_no_slot(app, monkeypatch):
    a = consultant(weight=7)
    b = consultant(weight=5)
    create(lead(qq="420001"))
    monkeypatch.setattr(intake, "find_duplicate", lambda *args: None)  # met every time, never found again
    with pytest.raises(Conflict) as caught:
        create(lead(qq="420001"))
    assert not isinstance(caught.value, intake.DuplicateLead) and caught.value.message == gettext(
        "The lead could not be saved while others with the same details were changing. Try again.")
    monkeypatch.undo()
    assert [create(lead(qq=q)).consultant_id for q in ("420002", "420003")] == [b.id, a.id]


# -- failures ----------------------------------------------------------------------------------
def test_failed_save_returns_the_slot(app, monkeypatch):
    a = consultant(weight=7)
    b = consultant(weight=5)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(intake.audit, "record", broken)
    with pytest.raises(RuntimeError):
        create(lead(qq="500001"))
    db.session.rollback()
    monkeypatch.undo()
    assert db.session.scalar(sa.select(Customer).where(Customer.qq == "500001")) is None
    assert create(lead(qq="500002")).consultant_id == a.id  # a's turn was not lost
    assert create(lead(qq="500003")).consultant_id == b.id


def test_lost_redis_state_between_intakes_is_rebuilt(app, redis_client):
    a = consultant(weight=7)
    b = consultant(weight=5)
    assert create(lead(qq="600001")).consultant_id == a.id
    for key in list(redis_client.scan_iter(f"{app.config['CRM_REDIS_PREFIX']}:alloc:*")):
        redis_client.delete(key)
    assert create(lead(qq="600002")).consultant_id == a.id  # a fresh cycle from the table
    assert create(lead(qq="600003")).consultant_id == b.id


def test_unknown_channel_is_a_programming_error(app):
    with pytest.raises(ValueError):
        create(lead(), channel="fax")
