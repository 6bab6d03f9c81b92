"""Lead allocation cycle and its guarantees (S-5, S-6)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.extensions import db, redis
from crm.sales import allocation
from crm.sales.models import SaleRank
from tests.factories import make_user

TODAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def fresh_queue(app):
    """Each test starts without a queue (ids are reused across rolled-back tests on SQLite)."""
    allocation.reset_state()
    yield
    allocation.reset_state()


def add_rank(weight: int, num: int, *, active: bool = True, on_leave_until: dt.date | None = None,
             user_active: bool = True):
    """A consultant with a row in the allocation table; returns the user id."""
    user = make_user("consultant", active=user_active)
    db.session.add(SaleRank(user_id=user.id, weight=weight, num=num, active=active,
                            on_leave_until=on_leave_until))
    db.session.commit()
    return user.id


def take(count: int, today: dt.date = TODAY) -> list[int | None]:
    """`count` single allocations."""
    return [allocation.allocate(today=today)[0] for _ in range(count)]


# -- the pure rule -----------------------------------------------------------------------------
def test_spec_example_cycle():
    a, b = 1, 2
    assert allocation.build_cycle([(b, 5, 5), (a, 7, 2)]) == [a, b, a, b, b, b, b]


def test_ties_are_broken_by_user_id():
    assert allocation.build_cycle([(9, 5, 1), (3, 5, 2), (4, 6, 1)]) == [4, 3, 9, 3]


def test_empty_table_gives_empty_cycle():
    assert allocation.build_cycle([]) == []


@given(st.dictionaries(st.integers(1, 500), st.tuples(st.integers(-5, 20), st.integers(1, 8)),
                       min_size=1, max_size=8),
       st.integers(1, 4))
def test_every_consultant_gets_num_per_cycle_in_weight_order(table, k):
    rows = [(user_id, weight, num) for user_id, (weight, num) in table.items()]
    cycle = allocation.build_cycle(rows)
    dealt = cycle * k
    for user_id, (_weight, num) in table.items():
        assert dealt.count(user_id) == k * num
    # Split the cycle into rounds: round r holds exactly the consultants with num > r.
    position = 0
    for r in range(max(num for _, _, num in rows)):
        members = [row for row in rows if row[2] > r]
        this_round = cycle[position:position + len(members)]
        assert this_round == [u for u, _w, _n in sorted(members, key=lambda row: (-row[1], row[0]))]
        position += len(members)
    assert position == len(cycle)


# -- through Redis -----------------------------------------------------------------------------
def test_allocations_follow_the_spec_example_and_repeat(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert take(14) == [a, b, a, b, b, b, b] * 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.lists(st.tuples(st.integers(-3, 9), st.integers(1, 4)), min_size=1, max_size=4),
       k=st.integers(1, 3), batch=st.integers(1, 7))
def test_k_full_cycles_through_redis_give_k_times_num(app, table, k, batch):
    # Examples share the test's outer transaction: start each from an empty table.
    db.session.execute(db.delete(SaleRank))
    db.session.commit()
    allocation.reset_state()
    try:
        ids = {add_rank(weight, num): (weight, num) for weight, num in table}
        cycle_length = sum(num for _w, num in table)
        dealt: list[int | None] = []
        while len(dealt) < k * cycle_length:
            dealt.extend(allocation.allocate(batch, today=TODAY))
        dealt = dealt[:k * cycle_length]
        for user_id, (_weight, num) in ids.items():
            assert dealt.count(user_id) == k * num
        expected = allocation.build_cycle([(u, w, n) for u, (w, n) in ids.items()])
        assert dealt == expected * k
    finally:
        allocation.reset_state()


def test_batch_wraps_across_cycles(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert take(3) == [a, b, a]
    assert allocation.allocate(9, today=TODAY) == [b, b, b, b, a, b, a, b, b]
    assert take(2) == [b, b]


def test_inactive_rows_inactive_accounts_and_leave_are_skipped(app):
    a = add_rank(weight=9, num=1)
    add_rank(weight=8, num=1, active=False)
    add_rank(weight=7, num=1, user_active=False)
    on_leave = add_rank(weight=6, num=1, on_leave_until=TODAY)
    back = add_rank(weight=5, num=1, on_leave_until=TODAY - dt.timedelta(days=1))
    assert take(4) == [a, back, a, back]
    # on_leave_until is the last day of leave: leads again from the next day.
    allocation.reset_state()
    tomorrow = TODAY + dt.timedelta(days=1)
    assert take(3, tomorrow) == [a, on_leave, back]


def test_leave_ending_starts_a_new_cycle_the_next_day(app):
    a = add_rank(weight=9, num=3)
    b = add_rank(weight=5, num=1, on_leave_until=TODAY)
    assert take(2) == [a, a]
    assert take(3, TODAY + dt.timedelta(days=1)) == [a, b, a]


def test_table_change_starts_a_new_cycle(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert take(3) == [a, b, a]
    rank = db.session.scalar(db.select(SaleRank).where(SaleRank.user_id == a))
    rank.num = 1
    db.session.commit()  # the ORM listener bumps the generation after commit
    assert take(6) == [a, b, b, b, b, b]


def test_mark_table_changed_starts_a_new_cycle_after_a_raw_update(app):
    b = add_rank(weight=5, num=3)
    a = add_rank(weight=7, num=1)
    assert take(2) == [a, b]
    db.session.execute(db.update(SaleRank).where(SaleRank.user_id == b).values(weight=10))
    db.session.commit()
    allocation.mark_table_changed()
    assert take(4) == [b, a, b, b]


def test_unchanged_table_keeps_its_place_after_a_generation_bump(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert take(3) == [a, b, a]
    allocation.mark_table_changed()  # e.g. the table page saved without changes
    assert take(4) == [b, b, b, b]


def test_deactivating_an_account_takes_effect_at_once(app):
    a = add_rank(weight=7, num=2)
    b = add_rank(weight=5, num=2)
    assert take(1) == [a]
    user = db.session.get(allocation.User, a)
    user.active = False
    db.session.commit()
    assert take(3) == [b, b, b]


def test_return_slots_puts_them_back_at_the_head_in_order(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    got = allocation.allocate(3, today=TODAY)
    assert got == [a, b, a]
    allocation.return_slots(got)
    assert take(7) == [a, b, a, b, b, b, b]


def test_returned_slots_of_a_consultant_no_longer_in_the_table_are_dropped(app):
    a = add_rank(weight=7, num=1)
    b = add_rank(weight=5, num=1)
    [first] = allocation.allocate(today=TODAY)
    assert first == a
    db.session.get(SaleRank, db.session.scalar(db.select(SaleRank.id).where(SaleRank.user_id == a))).active = False
    db.session.commit()
    assert take(1) == [b]
    allocation.return_slots([first])
    assert take(2) == [b, b]


def test_nobody_eligible_gives_none(app):
    assert allocation.allocate(3, today=TODAY) == [None, None, None]
    add_rank(weight=1, num=1, active=False)
    assert allocation.allocate(today=TODAY) == [None]


def test_adding_the_first_consultant_takes_effect_at_once(app):
    assert allocation.allocate(today=TODAY) == [None]
    a = add_rank(weight=1, num=1)
    assert allocation.allocate(today=TODAY) == [a]


def test_lost_redis_state_is_rebuilt_without_error(app, redis_client):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert take(3) == [a, b, a]
    # FLUSHDB equivalent for our keys only (the Redis database is shared).
    for key in list(redis_client.scan_iter(f"{app.config['CRM_REDIS_PREFIX']}:alloc:*")):
        redis_client.delete(key)
    redis_client.script_flush()  # scripts too: EVALSHA must reload them
    assert take(7) == [a, b, a, b, b, b, b]


def test_losing_only_the_cycle_template_forces_a_rebuild(app, redis_client):
    b = add_rank(weight=5, num=2)
    a = add_rank(weight=7, num=1)
    assert take(1) == [a]
    redis_client.delete(redis.key("alloc", "cycle"))
    assert take(3) == [a, b, b]


def test_recheck_rereads_the_table_after_the_interval(app, monkeypatch):
    b = add_rank(weight=5, num=2)
    a = add_rank(weight=7, num=1)
    assert take(1) == [a]
    # A change the ORM never saw and nobody announced...
    db.session.execute(db.update(SaleRank).where(SaleRank.user_id == a).values(active=False))
    db.session.commit()
    assert take(1) == [b]  # ...is not seen before the recheck is due,
    monkeypatch.setitem(app.config, "CRM_ALLOCATION_RECHECK_SECONDS", 0)
    allocation.rebuild(today=TODAY, new_cycle=False)  # re-stamp with an immediate deadline
    monkeypatch.setattr(allocation.time, "time", lambda: 10 ** 12)
    assert take(3) == [b, b, b]  # ...but it is afterwards.


def test_cycle_preview_shows_the_rest_then_the_next_cycles(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    assert allocation.cycle_preview(9, today=TODAY) == [a, b, a, b, b, b, b, a, b]
    take(5)
    assert allocation.cycle_preview(4, today=TODAY) == [b, b, a, b]
    assert allocation.current_cycle(TODAY) == [a, b, a, b, b, b, b]


def test_rebuild_starts_a_new_cycle(app):
    b = add_rank(weight=5, num=5)
    a = add_rank(weight=7, num=2)
    take(3)
    assert allocation.rebuild(today=TODAY) == 7
    assert take(2) == [a, b]


def test_allocate_refuses_zero():
    with pytest.raises(ValueError):
        allocation.allocate(0)


def test_cli_rebuild_allocation(app):
    add_rank(weight=5, num=3)
    result = app.test_cli_runner().invoke(args=["crm", "rebuild-allocation"])
    assert result.exit_code == 0, result.output
    assert "3 slot" in result.output
