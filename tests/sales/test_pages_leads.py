"""Lead detail, follow-ups (S-13), my customers (S-12) and escaping."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.core.errors import DomainError, Forbidden
from crm.extensions import db
from crm.sales import choices
from crm.sales.leads import services
from crm.sales.models import ConsultRecord, Customer
from crm.sales.pool import expiry
from tests.factories import login, make_course, make_user
from tests.sales.lead_factories import close_holding, make_lead, use_english

TODAY = dt.date(2026, 3, 10)


def test_detail_shows_profile_courses_follow_ups_newest_first_and_history(client):
    holder = make_user("consultant", name="顾问甲")
    course = make_course("Python 全栈开发")
    lead = make_lead(holder, name="王小明", phone="13800000001", courses=[course], received_on=TODAY)
    db.session.add_all([
        ConsultRecord(customer_id=lead.id, consultant_id=holder.id, date=TODAY, note="first call"),
        ConsultRecord(customer_id=lead.id, consultant_id=holder.id, date=TODAY + dt.timedelta(days=1),
                      note="second call"),
    ])
    db.session.commit()
    login(client, holder)
    html = client.get(f"/sales/leads/{lead.id}").get_data(as_text=True)
    assert "王小明" in html and "13800000001" in html and "Python 全栈开发" in html
    assert html.index("second call") < html.index("first call")
    assert choices.DISTRIBUTION_STATUS[choices.FOLLOWING] in html
    assert choices.ORIGIN[choices.ORIGIN_AUTO] in html
    assert 'data-testid="payments"' in html


def test_script_in_name_and_memo_is_escaped(client):
    holder = make_user("consultant")
    lead = make_lead(holder, name="<script>x</script>", memo="<script>alert(1)</script>")
    close_holding(lead, make_user("consultant"), choices.LOST_NO_FOLLOW_UP, dt.date(2026, 1, 1), dt.date(2026, 1, 5))
    login(client, holder)
    for url in (f"/sales/leads/{lead.id}", "/sales/mine", f"/sales/leads/{lead.id}/history"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<script>x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/sales/leads/{lead.id}").get_data(as_text=True)
    client.post("/auth/logout")
    login(client, make_user("sales_director"))
    html = client.get("/sales/leads").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html


# -- follow-up ---------------------------------------------------------------------------------
def test_follow_up_service_sets_last_follow_up_to_today():
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=TODAY - dt.timedelta(days=2))
    record = services.add_follow_up(holder, lead.id, "  called, will visit  ", today=TODAY)
    db.session.commit()
    assert record.date == TODAY and record.note == "called, will visit"
    assert db.session.get(Customer, lead.id).last_follow_up_on == TODAY


def test_follow_up_view_uses_the_clock_and_shows_newest_first(client):
    holder = make_user("consultant")
    today = clock.today()
    lead = make_lead(holder, received_on=today - dt.timedelta(days=1))
    login(client, holder)
    response = client.post(f"/sales/leads/{lead.id}/follow-ups", data={"note": "第一次跟进"})
    assert response.status_code == 302
    client.post(f"/sales/leads/{lead.id}/follow-ups", data={"note": "second"})
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).last_follow_up_on == today
    html = client.get(f"/sales/leads/{lead.id}").get_data(as_text=True)
    assert html.index("second") < html.index("第一次跟进")


@pytest.mark.parametrize("note,message", [("", "Write what was said."), ("   ", "Write what was said."),
                                          ("x" * 2001, "at most 2000")])
def test_follow_up_note_is_required_and_bounded(client, note, message):
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=clock.today(), last_follow_up_on=clock.today() - dt.timedelta(days=1))
    login(client, holder)
    use_english(client)
    response = client.post(f"/sales/leads/{lead.id}/follow-ups", data={"note": note}, follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ConsultRecord.id))) == 0
    db.session.expire_all()
    assert db.session.get(Customer, lead.id).last_follow_up_on == clock.today() - dt.timedelta(days=1)


def test_follow_up_of_2000_characters_is_accepted():
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=TODAY)
    services.add_follow_up(holder, lead.id, "字" * 2000, today=TODAY)


def test_follow_up_refused_once_expired():
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 2))
    services.add_follow_up(holder, lead.id, "still mine on the 5th", today=dt.date(2026, 3, 5))
    db.session.commit()
    # Followed up on the 5th: held through the 8th, gone on the 9th.
    with pytest.raises(DomainError) as refused:
        services.add_follow_up(holder, lead.id, "too late", today=dt.date(2026, 3, 9))
    assert type(refused.value) is DomainError  # not Forbidden: it is the holder, the lead expired
    db.session.rollback()
    assert db.session.get(Customer, lead.id).last_follow_up_on == dt.date(2026, 3, 5)


def test_director_may_follow_up_any_lead_but_another_consultant_may_not():
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=TODAY)
    services.add_follow_up(make_user("sales_director"), lead.id, "director's note", today=TODAY)
    with pytest.raises(Forbidden):
        services.add_follow_up(make_user("consultant"), lead.id, "not mine", today=TODAY)


# -- expiry countdown and my customers ---------------------------------------------------------
def test_countdown_follows_the_spec_example():
    holder = make_user("consultant")
    lead = make_lead(holder, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 2))
    on_5th = expiry.countdown(lead, dt.date(2026, 3, 5))
    assert (on_5th.days_left, on_5th.last_day, on_5th.reason) == (1, dt.date(2026, 3, 5), choices.LOST_NO_FOLLOW_UP)
    assert not on_5th.expired
    assert expiry.countdown(lead, dt.date(2026, 3, 6)).expired
    lead.last_follow_up_on = dt.date(2026, 3, 16)  # followed up every day
    on_16th = expiry.countdown(lead, dt.date(2026, 3, 16))
    assert (on_16th.days_left, on_16th.reason) == (1, choices.LOST_NO_CONVERSION)
    assert expiry.countdown(lead, dt.date(2026, 3, 17)).expired
    lead.status = choices.ENROLLED
    assert expiry.countdown(lead, dt.date(2026, 3, 30)).days_left is None


def test_my_customers_sorted_by_urgency_with_clear_labels(client):
    holder = make_user("consultant")
    today = clock.today()
    relaxed = make_lead(holder, name="relaxed", received_on=today, last_follow_up_on=today)
    last_day = make_lead(holder, name="lastday", received_on=today - dt.timedelta(days=5),
                         last_follow_up_on=today - dt.timedelta(days=3))
    two_days = make_lead(holder, name="twodays", received_on=today - dt.timedelta(days=14),
                         last_follow_up_on=today)
    make_lead(make_user("consultant"), name="someone-elses")
    make_lead(holder, name="enrolled-one", status=choices.ENROLLED)
    make_lead(holder, name="expired-one", received_on=today - dt.timedelta(days=6),
              last_follow_up_on=today - dt.timedelta(days=4))
    login(client, holder)
    use_english(client)
    html = client.get("/sales/mine").get_data(as_text=True)
    assert "someone-elses" not in html and "enrolled-one" not in html
    assert "expired-one" not in html  # already in the public pool (S-16)
    order = [html.index(f'data-customer-id="{c.id}"') for c in (last_day, two_days, relaxed)]
    assert order == sorted(order)
    assert 'data-days-left="1"' in html and 'data-days-left="2"' in html and 'data-days-left="4"' in html
    assert "Expires tomorrow" in html and "2 days left" in html


def test_my_history_lists_every_row_including_a_loss_after_someone_else_converted(client):
    me = make_user("consultant")
    other = make_user("consultant")
    lead = make_lead(other, status=choices.ENROLLED, received_on=dt.date(2026, 2, 10), qq="55667788")
    close_holding(lead, me, choices.LOST_NO_FOLLOW_UP, dt.date(2026, 2, 1), dt.date(2026, 2, 5))
    mine_now = make_lead(me, received_on=clock.today())
    login(client, me)
    html = client.get("/sales/mine?tab=history").get_data(as_text=True)
    assert choices.DISTRIBUTION_STATUS[choices.LOST_NO_FOLLOW_UP] in html
    assert choices.DISTRIBUTION_STATUS[choices.FOLLOWING] in html
    assert mine_now.qq in html
    assert "55667788" not in html and "55****88" in html  # the lead is someone else's now
