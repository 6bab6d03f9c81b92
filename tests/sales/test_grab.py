"""S-17 grab and director assignment: one winner, loser rule, limit, history rows."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, DomainError
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution
from crm.sales.pool.reclaim import reclaim_expired
from crm.sales.pool.services import assign, grab
from tests.concurrency import run_threads
from tests.factories import make_user
from tests.sales.lead_factories import make_lead
from tests.sales.pool_helpers import history

TODAY = dt.date(2026, 3, 20)
LOST = "You lost this lead and cannot take it back until another consultant has held it."
TAKEN = "Someone else has already taken this lead."


def msg(text: str, **kw) -> str:
    """The message as the service phrases it in the current locale (the UI defaults to Chinese)."""
    from flask_babel import gettext

    return gettext(text, **kw)


def expired_lead(holder):
    """A lead `holder` let expire (3 days without follow-up), not yet reclaimed."""
    return make_lead(holder, received_on=dt.date(2026, 3, 12), last_follow_up_on=dt.date(2026, 3, 16))


def test_grab_unassigned_lead_opens_history_and_sets_dates():
    alice = make_user("consultant")
    lead = make_lead(None)
    row = grab(alice.id, lead.id, TODAY)
    db.session.commit()
    db.session.refresh(lead)
    assert (lead.consultant_id, lead.received_on, lead.last_follow_up_on) == (alice.id, TODAY, TODAY)
    assert (row.consultant_id, row.origin, row.started_on, row.status) == (alice.id, "grab", TODAY, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "lead.grab", AuditLog.object_id == str(lead.id))) == 1


def test_grab_of_a_lead_that_expired_today_closes_the_holders_row_with_its_reason():
    alice, bob = make_user("consultant"), make_user("consultant")
    lead = expired_lead(alice)
    grab(bob.id, lead.id, TODAY)
    db.session.commit()
    rows = history(lead.id)
    assert [(r.consultant_id, r.status, r.ended_on) for r in rows] == [
        (alice.id, choices.LOST_NO_FOLLOW_UP, TODAY), (bob.id, choices.FOLLOWING, None)]
    db.session.refresh(lead)
    assert (lead.consultant_id, lead.last_lost_by_id) == (bob.id, alice.id)


def test_holder_of_an_expired_lead_cannot_grab_it_themself():
    alice = make_user("consultant")
    lead = expired_lead(alice)
    with pytest.raises(Conflict, match=msg(LOST)):
        grab(alice.id, lead.id, TODAY)


def test_previous_loser_refused_until_someone_else_held_and_lost_it():
    alice, bob, carol = (make_user("consultant") for _ in range(3))
    lead = expired_lead(alice)
    reclaim_expired(TODAY)
    db.session.commit()
    with pytest.raises(Conflict, match=msg(LOST)):
        grab(alice.id, lead.id, TODAY)
    db.session.rollback()
    grab(bob.id, lead.id, TODAY)  # bob holds it now
    db.session.commit()
    with pytest.raises(Conflict, match=msg(TAKEN)):
        grab(carol.id, lead.id, TODAY)
    db.session.rollback()
    later = TODAY + dt.timedelta(days=4)  # bob did not follow up: expired, reason 3
    grab(alice.id, lead.id, later)
    db.session.commit()
    rows = history(lead.id)
    assert [(r.consultant_id, r.status) for r in rows] == [
        (alice.id, 3), (bob.id, 3), (alice.id, 1)]


def test_held_fresh_and_enrolled_leads_cannot_be_grabbed():
    alice, bob = make_user("consultant"), make_user("consultant")
    fresh = make_lead(alice, received_on=TODAY, last_follow_up_on=TODAY)
    enrolled = make_lead(None, status=choices.ENROLLED)
    with pytest.raises(Conflict, match=msg(TAKEN)):
        grab(bob.id, fresh.id, TODAY)
    with pytest.raises(Conflict, match=msg("This lead has already enrolled.")):
        grab(bob.id, enrolled.id, TODAY)
    with pytest.raises(Conflict, match=msg("This lead is already yours.")):
        grab(alice.id, fresh.id, TODAY)
    with pytest.raises(DomainError, match=msg("This lead does not exist.")):
        grab(bob.id, 987654321, TODAY)


def test_daily_grab_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_DAILY_GRAB_LIMIT", 2)
    alice = make_user("consultant")
    leads = [make_lead(None) for _ in range(3)]
    grab(alice.id, leads[0].id, TODAY)
    grab(alice.id, leads[1].id, TODAY)
    db.session.commit()
    with pytest.raises(Conflict, match=msg("You have reached today's limit of %(n)d grabs.", n=2)):
        grab(alice.id, leads[2].id, TODAY)
    db.session.rollback()
    grab(alice.id, leads[2].id, TODAY + dt.timedelta(days=1))  # a new day
    db.session.commit()


def test_director_assigns_a_pool_lead_even_to_its_previous_loser():
    director = make_user("sales_director")
    alice = make_user("consultant")
    lead = expired_lead(alice)
    reclaim_expired(TODAY)
    row = assign(director.id, lead.id, alice.id, TODAY)
    db.session.commit()
    assert (row.consultant_id, row.origin) == (alice.id, "assign")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "lead.assign", AuditLog.object_id == str(lead.id))) == 1
    tutor = make_user("tutor")
    other = make_lead(None)
    with pytest.raises(DomainError, match=msg("Choose an active consultant.")):
        assign(director.id, other.id, tutor.id, TODAY)


@pytest.mark.committing
def test_twenty_simultaneous_grabs_have_exactly_one_winner(app, clean_database):
    with app.app_context():
        consultants = [make_user("consultant").id for _ in range(20)]
        lead_id = make_lead(None).id
        db.session.remove()
    results = run_threads(app, 20, lambda i: grab(consultants[i], lead_id, TODAY).id)
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1, results
    assert len(losers) == 19, results
    with app.app_context():
        assert all(e.message == msg(TAKEN) for e in losers)
    with app.app_context():
        rows = history(lead_id)
        assert len(rows) == 1 and rows[0].status == choices.FOLLOWING
        lead = db.session.get(Customer, lead_id)
        assert lead.consultant_id == rows[0].consultant_id
        db.session.remove()


@pytest.mark.committing
def test_simultaneous_grabs_by_one_consultant_respect_the_daily_limit(app, clean_database, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_DAILY_GRAB_LIMIT", 2)
    with app.app_context():
        alice = make_user("consultant").id
        leads = [make_lead(None).id for _ in range(6)]
        db.session.remove()
    results = run_threads(app, 6, lambda i: grab(alice, leads[i], TODAY).id)
    assert len([r for r in results if isinstance(r, int)]) == 2, results
    with app.app_context():
        limit = msg("You have reached today's limit of %(n)d grabs.", n=2)
    assert all(r.message == limit for r in results if isinstance(r, Conflict)), results
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerDistribution).where(
            CustomerDistribution.consultant_id == alice)) == 2
        db.session.remove()
