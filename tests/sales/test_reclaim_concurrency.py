"""S-15 under concurrency: two committing runs at once reclaim each lead once, one e-mail per consultant."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution
from crm.sales.pool.reclaim import reclaim_expired
from tests.factories import make_user
from tests.sales.pool_helpers import bulk_held_leads

TODAY = dt.date(2026, 3, 20)


@pytest.mark.committing
@pytest.mark.parametrize("use_lock", [True, False], ids=["redis-lock", "conditional-updates-only"])
def test_two_concurrent_runs_reclaim_each_lead_once(app, clean_database, use_lock):
    with app.app_context():
        consultants = [make_user("consultant", email=f"c{i}-{use_lock}@example.com").id for i in range(3)]
        for cid in consultants:
            bulk_held_leads(cid, 40, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
        db.session.remove()
    barrier = threading.Barrier(2)
    totals: list = [None, None]

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                result = reclaim_expired(TODAY, use_lock=use_lock)
                db.session.commit()
                totals[i] = result.total
            except Exception as error:  # noqa: BLE001 - shown in the assertion
                db.session.rollback()
                totals[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(totals, key=str) == [0, 120], totals
    with app.app_context():
        closed = db.session.execute(sa.select(CustomerDistribution.status, sa.func.count())
                                    .group_by(CustomerDistribution.status)).all()
        assert closed == [(choices.LOST_NO_CONVERSION, 120)]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                                 .where(Customer.consultant_id.is_not(None))) == 0
        mails = db.session.execute(sa.select(Notification.recipient_id, Notification.dedupe_key)
                                   .where(Notification.kind == "lead_reclaimed")).all()
        assert sorted(r for r, _k in mails) == sorted(consultants)
        # One run moved them all: one key per consultant, all of that run (the key is per run, not per date).
        [run] = {k.split(":")[2] for _r, k in mails}
        assert {k for _r, k in mails} == {f"reclaim:{TODAY}:{run}:{c}" for c in consultants}
        db.session.remove()


@pytest.mark.committing
def test_nightly_task_sends_one_summary_per_consultant_through_a_real_worker(
        app, clean_database, celery_worker, smtp_server):
    from crm.sales.pool.tasks import reclaim_expired_leads

    with app.app_context():
        alice = make_user("consultant", email="alice@example.com").id
        bulk_held_leads(alice, 5, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
        db.session.remove()
    outcome = reclaim_expired_leads.delay(TODAY.isoformat())
    [mail] = smtp_server.wait_for(1, timeout=30)
    assert mail.rcpt_tos == ["alice@example.com"]
    with app.app_context():
        # Running the job again the same day sends nothing more.
        reclaim_expired_leads.delay(TODAY.isoformat())
        import time

        time.sleep(2)
        assert len(smtp_server.messages) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1
        db.session.remove()
    assert outcome.id
