"""Allocation under real concurrency: many processes, one Redis, no slot lost or doubled (S-6)."""
from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from crm.extensions import db
from crm.sales import allocation
from crm.sales.models import SaleRank
from tests.factories import make_user

PROCESSES = 8
PER_PROCESS = 500


def allocate_in_process(config: dict, index: int, start, results) -> None:
    """One process: its own app and connections; allocate PER_PROCESS slots, report the counts."""
    from crm import create_app

    app = create_app(config)
    counts: Counter = Counter()
    with app.app_context():
        start.wait()
        done = 0
        while done < PER_PROCESS:
            # Half the processes take batches (as imports do), half single slots (as forms do).
            n = min(5, PER_PROCESS - done) if index % 2 else 1
            counts.update(allocation.allocate(n))
            done += n
            if index == 0 and done % 50 == 0:
                # Same table, new generation: forces concurrent rebuilds that must keep the queue.
                allocation.mark_table_changed()
    results.put(dict(counts))


@pytest.mark.committing
@pytest.mark.slow
def test_parallel_processes_get_exactly_the_cycle_totals(app, database_url, redis_url, redis_prefix,
                                                         clean_database):
    from tests.conftest import make_test_config

    with app.app_context():
        weights = {(7, 2): None, (5, 5): None, (3, 3): None}
        for weight, num in weights:
            user = make_user("consultant")
            db.session.add(SaleRank(user_id=user.id, weight=weight, num=num))
            weights[(weight, num)] = user.id
        db.session.commit()
        allocation.reset_state()  # every process starts stale: they race to build the queue

    context = multiprocessing.get_context("fork")  # children build their own app and connections
    start = context.Event()
    results = context.Queue()
    config = make_test_config(database_url, redis_url, redis_prefix)
    processes = [context.Process(target=allocate_in_process, args=(config, i, start, results))
                 for i in range(PROCESSES)]
    for process in processes:
        process.start()
    start.set()
    totals: Counter = Counter()
    for _ in processes:
        totals.update(results.get(timeout=120))
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    total = PROCESSES * PER_PROCESS
    cycle_length = 2 + 5 + 3
    assert total % cycle_length == 0
    cycles = total // cycle_length
    assert totals == {user_id: cycles * num for (_weight, num), user_id in weights.items()}
    with app.app_context():
        # Exactly whole cycles were taken, so the next slot starts a cycle.
        assert allocation.allocate(1) == [weights[(7, 2)]]
        allocation.reset_state()
