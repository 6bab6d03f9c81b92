"""Benchmark lead allocation (S-5/S-6): allocations per second against raw Redis round trips.

Usage: .venv/bin/python bench/allocation.py [--processes 4] [--seconds 8]

ours     = `crm.sales.allocation.allocate(1)` in a loop, from N processes at once (each with its own
           app and connection), against a table of 20 consultants; the steady state is one EVALSHA.
baseline = a bare `PING` round trip through redis-py from the same processes, same run; the two
           take turns in short slices (all processes on the same side at once) so load drift on
           the machine hits both alike.
Both use Redis database 12 (or BENCH_REDIS_URL) under a unique key prefix; only our keys are
deleted at the end. The table lives in a throw-away SQLite file (it is read only on rebuilds).

Also printed (not in the JSON): Redis round trips per allocation, a check that the counts follow
the cycle, and — when BENCH_DATABASE_URL or TEST_DATABASE_URL names a PostgreSQL server — the
rate of complete single-lead intakes (validate, dedupe, allocate, insert lead + history + audit +
e-mail row, commit) in a scratch database on that server.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_redis_url,  # noqa: E402
    delete_prefix,
    emit,
    make_app,
    run_alternating,
    scratch_postgres,
    unique_prefix,
)

CONSULTANTS = 20
TODAY = dt.date(2026, 3, 10)


def seed_table(app) -> dict[int, int]:
    """Consultants in the allocation table; returns user id -> num."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.sales.models import SaleRank

    nums = {}
    with app.app_context():
        for i in range(CONSULTANTS):
            user = User(username=f"bench-alloc-{i}", name=f"顾问{i}", kind="staff", email=f"b{i}@example.com",
                        password_hash="!", must_change_password=False)
            db.session.add(user)
            db.session.flush()
            db.session.add(SaleRank(user_id=user.id, num=1 + i % 3, weight=i % 7))
            nums[user.id] = 1 + i % 3
        db.session.commit()
    return nums


def child_ops(database_url: str, redis_url: str, prefix: str):
    """In a child: its own app (allocation) and a bare client configured like the app's (PING)."""
    import redis

    from crm.sales import allocation

    app = make_app(database_url, redis_url, prefix)
    app.app_context().push()
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
                                  health_check_interval=30)
    for _ in range(50):  # warm up: scripts loaded, connections open
        allocation.allocate(1)
        client.ping()
    return {"baseline": client.ping, "ours": lambda: allocation.allocate(1)}


def round_trips_per_allocation(database_url: str, redis_url: str, prefix: str, n: int = 2000) -> float:
    """Count the commands the client sends for n allocations in the steady state."""
    from crm.extensions import redis as redis_ext
    from crm.sales import allocation

    app = make_app(database_url, redis_url, prefix)
    with app.app_context():
        allocation.allocate(1)
        client = redis_ext.client
        sent = Counter()
        original = client.execute_command

        def counting(*args, **options):
            sent[args[0]] += 1
            return original(*args, **options)

        client.execute_command = counting
        try:
            for _ in range(n):
                allocation.allocate(1)
        finally:
            client.execute_command = original
    print(f"  redis commands for {n} allocations: {dict(sent)}")
    return sum(sent.values()) / n


def check_cycle_counts(database_url: str, redis_url: str, prefix: str, nums: dict[int, int]) -> None:
    """Sanity: whole cycles taken in one batch give each consultant exactly k * num."""
    from crm.sales import allocation

    app = make_app(database_url, redis_url, prefix)
    with app.app_context():
        allocation.rebuild()
        cycle = sum(nums.values())
        counts = Counter(allocation.allocate(cycle * 5))
    ok = counts == {user_id: 5 * num for user_id, num in nums.items()}
    print(f"  5 cycles in one batch follow the table: {'yes' if ok else 'NO: ' + str(counts)}")
    if not ok:
        raise SystemExit(1)


def intake_rate(redis_url: str, seconds: float) -> None:
    """Single-process rate of complete intakes (service path + commit) on a scratch PostgreSQL database."""
    source = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not source or not source.startswith(("postgres", "postgresql")):
        print("intake: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server)")
        return
    from crm.extensions import db
    from crm.sales.leads import intake

    prefix = unique_prefix("intake")
    try:
        with scratch_postgres(source, "intake") as url:
            app = make_app(url, redis_url, prefix, migrate=True)
            seed_table(app)
            with app.app_context():
                done = 0
                started = time.perf_counter()
                while time.perf_counter() - started < seconds:
                    intake.create_lead(None, {"qq": str(10_000_000 + done), "name": "压测", "gender": 1,
                                              "source": 3, "phone": f"139{done:08d}",
                                              "email": f"lead{done}@example.com"},
                                       channel="form", today=TODAY)
                    db.session.commit()
                    done += 1
                elapsed = time.perf_counter() - started
                db.session.remove()
                db.engine.dispose()
            print(f"intake (PostgreSQL, 1 process, full service path + commit): {done / elapsed:.0f} leads/s "
                  f"({done} leads in {elapsed:.1f} s)")
    finally:
        delete_prefix(redis_url, prefix)


def main() -> int:
    """Run the benchmark and print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per side")
    parser.add_argument("--slices", type=int, default=8, help="turns per side (they alternate)")
    parser.add_argument("--intake-seconds", type=float, default=8.0)
    args = parser.parse_args()

    prefix = unique_prefix("alloc")
    with bench_redis_url() as redis_url, tempfile.TemporaryDirectory(prefix="crm-bench-alloc-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'alloc.sqlite3'}"
        try:
            app = make_app(database_url, redis_url, prefix, migrate=True)
            nums = seed_table(app)
            print(f"allocation table: {CONSULTANTS} consultants, cycle of {sum(nums.values())} slots; "
                  f"{args.processes} processes, {args.seconds:.0f} s per side in {args.slices} alternating slices; "
                  f"redis {redis_url}")
            slice_seconds = args.seconds / args.slices
            totals = run_alternating(child_ops, (database_url, redis_url, prefix), processes=args.processes,
                                     slices=2 * args.slices, slice_seconds=slice_seconds)
            baseline, ours = totals["baseline"] / args.seconds, totals["ours"] / args.seconds
            ours_n = totals["ours"]
            print(f"baseline  PING round trips: {baseline:,.0f}/s ({totals['baseline']} in all)")
            print(f"ours      allocations:      {ours:,.0f}/s ({ours_n} in all)")
            trips = round_trips_per_allocation(database_url, redis_url, prefix)
            print(f"  round trips per allocation in the steady state: {trips:.2f}")
            check_cycle_counts(database_url, redis_url, prefix, nums)
        finally:
            delete_prefix(redis_url, prefix)
        intake_rate(redis_url, args.intake_seconds)
    emit({"bench": "allocation", "unit": "ops/s", "ours": round(ours, 1), "baseline": round(baseline, 1),
          "ratio": round(ours / baseline, 3), "n": ours_n})
    return 0


if __name__ == "__main__":
    sys.exit(main())
