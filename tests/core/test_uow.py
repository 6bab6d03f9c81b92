"""The unit of work (crm.core.uow): side effects follow the transaction's outcome."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core import uow
from crm.extensions import db, redis
from crm.notifications import tasks as notification_tasks
from crm.notifications.models import Notification
from crm.notifications.services import queue_email
from crm.sales import allocation
from crm.sales.leads import intake
from crm.sales.models import SaleRank
from tests.factories import make_user

TODAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def fresh_queue(app):
    allocation.reset_state()
    yield
    allocation.reset_state()


@pytest.fixture
def sent(monkeypatch):
    """Ids handed to Celery (the dispatch step), recorded instead of enqueued."""
    ids: list[int] = []
    monkeypatch.setattr(notification_tasks, "dispatch", lambda batch: ids.extend(batch))
    return ids


def _queue() -> Notification:
    return queue_email(kind="test", recipient_id=None, to_address="a@example.com", subject="Hello",
                       template="sales_lead_assigned", context={})


def _add_rank(weight: int, num: int) -> int:
    user = make_user("consultant")
    db.session.add(SaleRank(user_id=user.id, weight=weight, num=num))
    db.session.commit()
    return user.id


def test_email_queued_in_a_committed_transaction_is_sent_once(sent):
    note = _queue()
    assert sent == []  # nothing leaves before the commit
    uow.commit()
    assert sent == [note.id]
    db.session.commit()  # a later commit does not send it again
    assert sent == [note.id]


def test_email_queued_in_a_transaction_that_rolls_back_is_never_sent(sent):
    _queue()
    db.session.rollback()
    db.session.commit()
    assert sent == []


def test_email_queued_in_a_savepoint_that_rolls_back_is_never_sent(sent):
    kept = _queue()
    with pytest.raises(RuntimeError):
        with uow.savepoint():
            _queue()
            raise RuntimeError("the inner step failed")
    uow.commit()
    assert sent == [kept.id]


def test_slot_taken_in_a_transaction_that_rolls_back_returns_to_the_head(app):
    a = _add_rank(weight=7, num=1)
    b = _add_rank(weight=5, num=1)
    result = intake.create_lead(None, {"qq": "551001", "name": "张三", "gender": 1, "source": 3},
                                channel="form", today=TODAY)
    assert result.consultant_id == a
    db.session.rollback()  # the lead is not saved: a keeps the turn
    assert allocation.allocate(2, today=TODAY) == [a, b]


def test_slot_is_kept_when_the_transaction_commits(app):
    _add_rank(weight=7, num=1)
    b = _add_rank(weight=5, num=1)
    intake.create_lead(None, {"qq": "551002", "name": "李四", "gender": 1, "source": 3}, channel="form",
                       today=TODAY)
    uow.commit()
    assert allocation.allocate(1, today=TODAY) == [b]


def test_failed_commit_returns_the_slot(app):
    a = _add_rank(weight=7, num=1)
    b = _add_rank(weight=5, num=1)
    intake.create_lead(None, {"qq": "551003", "name": "王五", "gender": 1, "source": 3}, channel="form",
                       today=TODAY)

    def database_gone(_session):
        raise RuntimeError("the database went away")

    session = db.session()
    sa.event.listen(session, "before_commit", database_gone)
    try:
        with pytest.raises(RuntimeError):
            uow.commit()
    finally:
        sa.event.remove(session, "before_commit", database_gone)
    assert allocation.allocate(2, today=TODAY) == [a, b]


def test_allocation_generation_moves_only_after_commit(app):
    gen_key = redis.key("alloc", "gen")
    before = int(redis.client.get(gen_key) or 0)
    user = make_user("consultant")
    db.session.add(SaleRank(user_id=user.id, weight=1, num=1))
    db.session.flush()
    assert int(redis.client.get(gen_key) or 0) == before  # flushed, not committed
    db.session.rollback()
    assert int(redis.client.get(gen_key) or 0) == before  # rolled back: no change
    db.session.add(SaleRank(user_id=user.id, weight=1, num=1))
    uow.commit()
    assert int(redis.client.get(gen_key) or 0) == before + 1


def test_after_end_runs_on_commit_and_on_rollback():
    calls: list[str] = []
    uow.after_end(lambda: calls.append("first"))
    db.session.commit()
    uow.after_end(lambda: calls.append("second"))
    db.session.rollback()
    assert calls == ["first", "second"]


def test_after_commit_inside_a_released_savepoint_waits_for_the_outer_commit():
    calls: list[str] = []
    with uow.savepoint():
        uow.after_commit(lambda: calls.append("done"))
    assert calls == []  # the savepoint was released, the transaction is still open
    db.session.commit()
    assert calls == ["done"]


def test_a_failing_callback_does_not_hide_the_commit(monkeypatch):
    calls: list[str] = []
    logged: list[str] = []
    monkeypatch.setattr(uow.log, "exception", lambda message, *args: logged.append(message % args))

    def boom():
        raise ValueError("callback failed")

    uow.after_commit(boom)
    uow.after_commit(lambda: calls.append("still runs"))
    uow.commit()
    assert calls == ["still runs"]
    assert len(logged) == 1 and "boom" in logged[0]
