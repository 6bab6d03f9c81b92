"""S-15 e-mails name the leads: one summary per consultant per run, through the worker and real SMTP."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from crm.core import uow
from crm.extensions import db
from crm.sales import choices
from crm.sales.pool.reclaim import LEAD_LIST_LIMIT, reclaim_expired, run_expiry_reminders, run_reclaim
from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead

TODAY = dt.date(2026, 3, 20)


def _wait_sent(timeout: float = 20.0) -> None:
    """Until the worker has marked every queued e-mail sent (its last write is done)."""
    import sqlalchemy as sa

    from crm.notifications.models import Notification

    deadline = time.monotonic() + timeout
    while db.session.scalar(sa.select(sa.func.count()).where(Notification.status != "sent")):
        db.session.rollback()
        assert time.monotonic() < deadline, "the worker did not finish sending"
        time.sleep(0.1)
    db.session.rollback()


def _bodies(mail) -> tuple[str, str]:
    return (mail.message.get_body(("plain",)).get_content(), mail.message.get_body(("html",)).get_content())


@pytest.mark.committing
def test_two_reclaims_in_one_day_send_two_summaries_each_naming_exactly_its_leads(
        app, clean_database, celery_worker, smtp_server):
    with app.app_context():
        alice = make_user("consultant", email="alice@example.com")
        first = make_lead(alice, name="甲一", received_on=dt.date(2026, 3, 10), last_follow_up_on=dt.date(2026, 3, 16))
        also = make_lead(alice, name="甲二", received_on=dt.date(2026, 3, 4), last_follow_up_on=dt.date(2026, 3, 19))
        assert run_reclaim(TODAY).total == 2
        smtp_server.wait_for(1)
        _wait_sent()
        # Later that day a lead with older dates comes in (e.g. an import) and reclaim is run by hand.
        late = make_lead(alice, name="乙三", received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
        assert run_reclaim(TODAY).total == 1
        assert run_reclaim(TODAY).total == 0  # nothing moved: no third e-mail
        ids = {c.name: c.id for c in (first, also, late)}
        alice_login, alice_name = alice.username, alice.name
    smtp_server.wait_for(2)
    time.sleep(1.0)  # a third message would be here by now
    messages = smtp_server.messages
    assert len(messages) == 2 and all(m.rcpt_tos == ["alice@example.com"] for m in messages)
    texts = sorted((_bodies(m) for m in messages), key=lambda b: len(b[0]), reverse=True)
    (text_1, html_1), (text_2, html_2) = texts
    assert "甲一" in text_1 and "甲二" in text_1 and "乙三" not in text_1
    assert "乙三" in text_2 and "甲一" not in text_2 and "甲二" not in text_2
    # Reason, the day it expired and a link to each lead; a link to the filtered History tab.
    assert choices.POOL_REASONS[choices.LOST_NO_FOLLOW_UP] in text_1 and "2026-03-20" in text_1
    assert choices.POOL_REASONS[choices.LOST_NO_CONVERSION] in text_1 and "2026-03-20" in text_1
    assert "2026-03-05" in text_2  # 乙三 expired on the 5th (3 days after its last follow-up on the 1st)
    base = app.config["CRM_PUBLIC_URL"]
    for name in ("甲一", "甲二"):
        assert f"{base}/sales/leads/{ids[name]}" in text_1 and f'href="{base}/sales/leads/{ids[name]}"' in html_1
    assert f"{base}/sales/leads/{ids['乙三']}" in text_2 and f"/sales/leads/{ids['乙三']}" in html_2
    # Each e-mail links to its own run's list (both runs ended the holdings on the same day), in text and HTML.
    links = []
    for text, html in texts:
        link = re.search(r'href="([^"]*/sales/reclaims/[0-9a-f]+)"', html).group(1)
        assert link.startswith(f"{base}/sales/reclaims/") and link in text
        links.append(link.removeprefix(base))
    assert links[0] != links[1]
    with app.app_context():
        client = app.test_client()
        login(client, alice_login)
        for link, names in zip(links, (("甲一", "甲二"), ("乙三",))):
            page = client.get(link)
            assert page.status_code == 200, link
            listed = re.findall(r'<tr data-customer-id="(\d+)"', page.get_data(as_text=True))
            assert sorted(map(int, listed)) == sorted(ids[n] for n in names), link
        # Someone else's run is not theirs to read; a director sees the run's leads with their consultant.
        client.post("/auth/logout")
        login(client, make_user("consultant"))
        assert client.get(links[0]).status_code == 404
        client.post("/auth/logout")
        login(client, make_user("sales_director"))
        page = client.get(links[1]).get_data(as_text=True)
        assert re.findall(r'<tr data-customer-id="(\d+)"', page) == [str(ids["乙三"])] and alice_name in page
        assert client.get("/sales/reclaims/not-a-run").status_code == 404
        assert client.get(f"/sales/reclaims/{'0' * 32}").status_code == 404


def test_summary_caps_its_list_and_counts_the_rest(app):
    bob = make_user("consultant", email="bob@example.com")
    for n in range(LEAD_LIST_LIMIT + 3):
        make_lead(bob, name=f"丙{n:03d}", received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
    result = reclaim_expired(TODAY, use_lock=False)
    from crm.notifications.models import Notification

    [note_id] = result.notification_ids
    note = db.session.get(Notification, note_id)
    assert note.body_text.count("丙") == LEAD_LIST_LIMIT  # 丙000 … 丙049 named, 丙050 … 丙052 counted
    assert "丙050" not in note.body_text and "3" in note.body_text.split("丙049")[1].split("\n", 1)[1]
    db.session.rollback()


def test_reminder_lists_the_leads_with_links_in_the_recipients_language(app):
    carol = make_user("consultant", email="carol@example.com")
    carol.locale = "en"
    lead = make_lead(carol, name="丁四", received_on=dt.date(2026, 3, 17), last_follow_up_on=dt.date(2026, 3, 17))
    [note_id] = run_expiry_reminders(dt.date(2026, 3, 20))
    from crm.notifications.models import Notification

    note = db.session.get(Notification, note_id)
    assert "丁四" in note.body_text and f"/sales/leads/{lead.id}" in note.body_html
    assert "3 days without follow-up" in note.body_text and "三天" not in note.body_text
    uow.commit()


def test_assignment_email_labels_the_source_in_the_recipients_language_with_a_link(app):
    from crm.notifications.models import Notification
    from crm.sales import allocation
    from crm.sales.leads import intake
    from crm.sales.models import SaleRank

    allocation.reset_state()
    dana = make_user("consultant", email="dana@example.com")
    dana.locale = "en"
    db.session.add(SaleRank(user_id=dana.id, weight=1, num=1))
    db.session.commit()
    result = intake.create_lead(None, {"qq": "8123456", "name": "Ann", "gender": 2, "source": 4}, channel="api",
                                today=TODAY)
    [note_id] = result.notification_ids
    note = db.session.get(Notification, note_id)
    assert choices.SOURCE_EN[4] in note.body_text and choices.SOURCE[4] not in note.body_text
    assert f"{app.config['CRM_PUBLIC_URL']}/sales/leads/{result.customer.id}" in note.body_text
    db.session.rollback()
    allocation.reset_state()
