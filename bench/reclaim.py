"""Benchmark the nightly reclaim (S-15) on PostgreSQL with 1,000,000 leads, 10 % expired.

Usage: .venv/bin/python -m bench.reclaim [--leads N]

A scratch database is created (and dropped at the end) on PG_ADMIN_URL's
server, built by the migrations and filled with generate_series. "ours" is
reclaim_expired() plus its commit; "baseline" is one raw UPDATE of the
customers table with the same predicate. Between runs the moved rows are put
back and the tables vacuumed, and each side runs twice (alternating); the
best time of each is reported. Last line: JSON.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid

import psycopg

from bench.common import scratch_postgres

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
TODAY = dt.date(2026, 6, 15)
CONSULTANTS = 100


def scratch_database(label: str):
    """A scratch database on PG_ADMIN_URL's server for this run, dropped at the end."""
    return scratch_postgres(ADMIN_URL, label)


def make_app(url: str):
    """The application on the scratch database, schema built by the migrations."""
    os.environ.setdefault("CRM_ENV", "testing")
    from flask_migrate import upgrade

    from crm import create_app
    from crm.auth.services import seed_departments, sync_rbac
    from crm.extensions import db

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
        "CRM_REDIS_PREFIX": f"crm-bench-{uuid.uuid4().hex[:6]}", "TESTING": True, "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    })
    with app.app_context():
        upgrade(revision="heads")
        sync_rbac()
        seed_departments()
        db.session.commit()
    return app


def fill(url: str, leads: int, today: dt.date = TODAY) -> dict:
    """Consultants and `leads` leads: 10 % held and expired, 5 % held fresh, 30 % enrolled, the rest in the pool."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        role_id = conn.execute("SELECT id FROM roles WHERE name = 'consultant'").fetchone()[0]
        conn.execute(
            """INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at)
               SELECT 'bench' || g, 'x', 'staff', 'Consultant ' || g, true, false, now()
               FROM generate_series(1, %s) g""", (CONSULTANTS,))
        conn.execute("INSERT INTO user_roles (user_id, role_id) SELECT id, %s FROM users WHERE username LIKE 'bench%%'",
                     (role_id,))
        first_user = conn.execute("SELECT min(id) FROM users WHERE username LIKE 'bench%%'").fetchone()[0]
        # g % 20: 0,1 → expired (10 %); 2 → fresh held (5 %); 3..8 → enrolled (30 %); else pool (55 %).
        conn.execute(
            """INSERT INTO customers (qq, name, gender, source, status, consultant_id, inquiry_date, received_on,
                                      last_follow_up_on, last_lost_by_id, pool_reason, pool_since, channel, created_at)
               SELECT (100000000 + g)::text, '客户' || g, 1 + g %% 2, 1 + g %% 16,
                      CASE WHEN g %% 20 BETWEEN 3 AND 8 THEN 2 ELSE 1 END,
                      CASE WHEN g %% 20 <= 8 THEN %(u0)s + (g / 20) %% %(n)s END,
                      %(today)s::date - (g %% 700),
                      CASE WHEN g %% 20 <= 1 THEN %(today)s::date - 20 + (g %% 3)
                           WHEN g %% 20 <= 8 THEN %(today)s::date - (g %% 5) END,
                      CASE WHEN g %% 20 <= 1 THEN %(today)s::date - 10 + (g %% 3)
                           WHEN g %% 20 <= 8 THEN %(today)s::date - (g %% 3) END,
                      CASE WHEN g %% 20 > 8 THEN %(u0)s + (g / 20 + 1) %% %(n)s END,
                      CASE WHEN g %% 20 > 8 THEN 3 + g %% 2 END,
                      CASE WHEN g %% 20 > 8 THEN %(today)s::date - (g %% 60) END,
                      'import', now()
               FROM generate_series(1, %(leads)s) g""",
            {"u0": first_user, "n": CONSULTANTS, "today": today, "leads": leads})
        conn.execute(
            """INSERT INTO customer_distributions (customer_id, consultant_id, started_on, ended_on, status, origin)
               SELECT id, coalesce(consultant_id, last_lost_by_id), coalesce(received_on, inquiry_date),
                      CASE WHEN status = 2 OR consultant_id IS NULL THEN coalesce(received_on, inquiry_date) + 2 END,
                      CASE WHEN status = 2 THEN 2 WHEN consultant_id IS NULL THEN pool_reason ELSE 1 END, 'auto'
               FROM customers""")
        conn.execute("VACUUM ANALYZE")
        expired = conn.execute(
            "SELECT count(*) FROM customers WHERE status = 1 AND consultant_id IS NOT NULL "
            "AND (last_follow_up_on < %s OR received_on < %s)",
            (today - dt.timedelta(days=3), today - dt.timedelta(days=15))).fetchone()[0]
    return {"expired": expired, "seconds": time.perf_counter() - started}


BASELINE_SQL = """
UPDATE customers SET last_lost_by_id = consultant_id,
       pool_reason = CASE WHEN received_on < %(r)s THEN 4 ELSE 3 END, pool_since = %(t)s, consultant_id = NULL
WHERE status = 1 AND consultant_id IS NOT NULL AND (last_follow_up_on < %(f)s OR received_on < %(r)s)
"""


def reset(url: str, today: dt.date = TODAY) -> None:
    """Put reclaimed leads back with their holders and reopen their history rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""UPDATE customer_distributions cd SET status = 1, ended_on = NULL
                        FROM customers c WHERE c.id = cd.customer_id AND c.pool_since = %s
                        AND c.consultant_id IS NULL AND cd.ended_on = %s""", (today, today))
        conn.execute("""UPDATE customers SET consultant_id = last_lost_by_id, last_lost_by_id = NULL,
                        pool_reason = NULL, pool_since = NULL WHERE pool_since = %s AND consultant_id IS NULL""",
                     (today,))
        conn.execute("DELETE FROM audit_log WHERE action = 'lead.reclaim'")
        conn.execute("VACUUM ANALYZE customers")
        conn.execute("VACUUM ANALYZE customer_distributions")


def run_baseline(url: str, today: dt.date = TODAY) -> tuple[float, int]:
    """One raw UPDATE with the same predicate, committed."""
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        cursor = conn.execute(BASELINE_SQL, {"t": today, "f": today - dt.timedelta(days=3),
                                             "r": today - dt.timedelta(days=15)})
        conn.commit()
        return time.perf_counter() - started, cursor.rowcount


def run_ours(app, today: dt.date = TODAY) -> tuple[float, int, int]:
    """reclaim_expired() and its commit; returns seconds, leads moved and SQL statements issued."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.sales.pool.reclaim import reclaim_expired

    with app.app_context():
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            result = reclaim_expired(today)
            db.session.commit()
            elapsed = time.perf_counter() - started
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
            db.session.remove()
        return elapsed, result.total, len(statements)


def main(argv: list[str] | None = None) -> int:
    """Build the data, time both sides twice, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with scratch_database("reclaim") as url:
        app = make_app(url)
        info = fill(url, args.leads)
        print(f"data: {args.leads} leads, {info['expired']} expired, generated in {info['seconds']:.1f}s", flush=True)
        ours_times, base_times = [], []
        statements = moved = 0
        for round_no in range(2):
            base, rows = run_baseline(url)
            base_times.append(base)
            print(f"round {round_no + 1} baseline: {base:.3f}s ({rows} rows)", flush=True)
            reset(url)
            ours, moved, statements = run_ours(app)
            ours_times.append(ours)
            print(f"round {round_no + 1} ours:     {ours:.3f}s ({moved} leads, {statements} SQL statements)",
                  flush=True)
            reset(url)
        with app.app_context():
            from crm.extensions import db

            db.engine.dispose()
        ours, base = min(ours_times), min(base_times)
        print(f"SQL statements issued by the reclaim job: {statements} (independent of the number of leads)")
        print(json.dumps({"bench": "reclaim", "unit": "s", "ours": round(ours, 4), "baseline": round(base, 4),
                          "ratio": round(ours / base, 3), "n": args.leads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
