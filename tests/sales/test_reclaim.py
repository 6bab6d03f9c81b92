"""S-15 reclaim: effects, idempotence, fixed statement count, CLI, reminder."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from crm.core.audit import AuditLog
from crm.extensions import db, redis
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution
from crm.sales.pool.reclaim import expiring_tomorrow, reclaim_expired
from tests.factories import make_user
from tests.sales.lead_factories import make_lead
from tests.sales.pool_helpers import bulk_held_leads, history

TODAY = dt.date(2026, 3, 20)


def test_reclaim_moves_expired_leads_and_closes_history_with_reason():
    alice, bob = make_user("consultant"), make_user("consultant")
    no_follow = make_lead(alice, received_on=dt.date(2026, 3, 10), last_follow_up_on=dt.date(2026, 3, 16))
    no_convert = make_lead(alice, received_on=dt.date(2026, 3, 4), last_follow_up_on=dt.date(2026, 3, 19))
    fresh = make_lead(bob, received_on=dt.date(2026, 3, 18), last_follow_up_on=dt.date(2026, 3, 19))
    enrolled = make_lead(bob, received_on=dt.date(2026, 1, 1), status=choices.ENROLLED)
    unassigned = make_lead(None)

    result = reclaim_expired(TODAY)
    db.session.commit()

    assert result.per_consultant == {alice.id: {3: 1, 4: 1}}
    assert result.total == 2
    for lead, reason in ((no_follow, 3), (no_convert, 4)):
        db.session.refresh(lead)
        assert (lead.consultant_id, lead.last_lost_by_id, lead.pool_reason, lead.pool_since) == \
            (None, alice.id, reason, TODAY)
        [row] = history(lead.id)
        assert (row.status, row.ended_on, row.consultant_id) == (reason, TODAY, alice.id)
        assert row.reclaim_run == result.run_id  # the run that closed it: its e-mail links to exactly these
    for lead in (fresh, enrolled):
        db.session.refresh(lead)
        assert lead.consultant_id == bob.id
    assert history(fresh.id)[0].status == choices.FOLLOWING and history(fresh.id)[0].reclaim_run is None
    db.session.refresh(unassigned)
    assert unassigned.pool_since is None
    audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "lead.reclaim")).all()
    assert len(audits) == 1
    assert audits[0].detail_dict["total"] == 2
    assert audits[0].detail_dict["consultants"] == {str(alice.id): {"3": 1, "4": 1}}


def test_reclaim_twice_changes_nothing_the_second_time():
    alice = make_user("consultant")
    lead = make_lead(alice, received_on=dt.date(2026, 3, 10), last_follow_up_on=dt.date(2026, 3, 10))
    first = reclaim_expired(TODAY)
    db.session.commit()
    second = reclaim_expired(TODAY)
    db.session.commit()
    third = reclaim_expired(TODAY + dt.timedelta(days=5))
    db.session.commit()
    assert (first.total, second.total, third.total) == (1, 0, 0)
    rows = history(lead.id)
    assert [(r.status, r.ended_on) for r in rows] == [(3, TODAY)]


def test_reclaim_releases_its_lock_after_commit():
    make_lead(make_user("consultant"), received_on=dt.date(2026, 3, 1))
    reclaim_expired(TODAY)
    assert redis.client.exists(redis.key("reclaim", "lock")) == 1  # held until the commit
    db.session.commit()
    assert redis.client.exists(redis.key("reclaim", "lock")) == 0


@contextlib.contextmanager
def count_statements():
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def test_statement_count_does_not_grow_with_the_number_of_leads():
    counts = {}
    lead_totals = {}
    for n in (10, 200):
        consultants = [make_user("consultant"), make_user("consultant")]
        for consultant in consultants:
            bulk_held_leads(consultant.id, n // 2, received_on=dt.date(2026, 3, 1),
                            last_follow_up_on=dt.date(2026, 3, 2))
        db.session.expire_all()
        with count_statements() as statements:
            result = reclaim_expired(TODAY)
            db.session.flush()
        db.session.commit()
        counts[n] = len([s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))])
        lead_totals[n] = result.total
    assert lead_totals == {10: 10, 200: 200}
    assert counts[10] == counts[200], counts
    assert counts[10] <= 8, counts


def test_open_history_rows_of_reclaimed_leads_all_closed():
    alice = make_user("consultant")
    ids = bulk_held_leads(alice.id, 30, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
    reclaim_expired(TODAY)
    db.session.commit()
    statuses = db.session.execute(
        sa.select(CustomerDistribution.status, sa.func.count()).where(CustomerDistribution.customer_id.in_(ids))
        .group_by(CustomerDistribution.status)).all()
    assert statuses == [(choices.LOST_NO_CONVERSION, 30)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(
        Customer.id.in_(ids), Customer.consultant_id.is_not(None))) == 0


def test_cli_reclaim_with_as_of_and_bad_date(app):
    alice = make_user("consultant")
    lead = make_lead(alice, received_on=dt.date(2026, 3, 1), last_follow_up_on=dt.date(2026, 3, 1))
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["crm", "reclaim", "--as-of", "2026-13-45"])
    assert bad.exit_code == 2
    assert "is not a date; use YYYY-MM-DD" in bad.output
    db.session.refresh(lead)
    assert lead.consultant_id == alice.id
    good = runner.invoke(args=["crm", "reclaim", "--as-of", "2026-03-20"])
    assert good.exit_code == 0, good.output
    assert "1 lead(s) moved" in good.output
    db.session.refresh(lead)
    assert lead.consultant_id is None


def test_expiring_tomorrow_lists_only_leads_that_expire_tomorrow():
    alice = make_user("consultant")
    tomorrow_3 = make_lead(alice, received_on=dt.date(2026, 3, 15), last_follow_up_on=dt.date(2026, 3, 17))
    tomorrow_4 = make_lead(alice, received_on=dt.date(2026, 3, 5), last_follow_up_on=dt.date(2026, 3, 19))
    make_lead(alice, received_on=dt.date(2026, 3, 15), last_follow_up_on=dt.date(2026, 3, 16))  # expires today
    make_lead(alice, received_on=dt.date(2026, 3, 15), last_follow_up_on=dt.date(2026, 3, 18))  # in two days
    found = expiring_tomorrow(TODAY)
    assert sorted((i, r) for i, _n, _q, r in found[alice.id]) == sorted(
        [(tomorrow_3.id, choices.LOST_NO_FOLLOW_UP), (tomorrow_4.id, choices.LOST_NO_CONVERSION)])


def test_beat_schedule_and_imports_name_the_tasks(app):
    celery_app = app.extensions["celery"]
    assert "crm.sales.pool.tasks" in celery_app.conf.imports
    entries = {v["task"]: v["schedule"] for v in celery_app.conf.beat_schedule.values()}
    reclaim, remind = entries["crm.sales.reclaim_expired_leads"], entries["crm.sales.remind_expiring_leads"]
    assert (reclaim.hour, reclaim.minute) == ({0}, {5})
    assert (remind.hour, remind.minute) == ({9}, {0})
    assert celery_app.conf.timezone == app.config["CRM_TIMEZONE"]
    celery_app.loader.import_default_modules()
    assert "crm.sales.reclaim_expired_leads" in celery_app.tasks


@pytest.mark.committing
@pytest.mark.parametrize("error", [
    redis_lib.exceptions.ConnectionError("Connection reset by peer"),
    OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
], ids=["redis", "database"])
@pytest.mark.parametrize("task_name, target", [
    ("reclaim_expired_leads", "run_reclaim"), ("remind_expiring_leads", "run_expiry_reminders"),
])
def test_beat_tasks_retry_a_dropped_connection_through_a_real_worker(app, celery_worker, monkeypatch, error,
                                                                      task_name, target):
    import time

    from crm.sales.pool import reclaim
    from crm.sales.pool import tasks as reclaim_tasks

    calls: list[dt.date] = []

    def flaky(today, *_args):
        calls.append(today)
        if len(calls) == 1:
            raise error
        return reclaim.ReclaimResult(today=today) if target == "run_reclaim" else []

    monkeypatch.setattr(reclaim, target, flaky)
    getattr(reclaim_tasks, task_name).apply_async(args=["2026-03-10"])
    deadline = time.monotonic() + 30
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls == [dt.date(2026, 3, 10)] * 2  # failed once, retried once, succeeded
