"""The database of bench/web.py: 1,000,000 leads with demo accounts, built once and reused.

``crm_bench_web_<N>`` on PG_ADMIN_URL's server: migrations, then generate_series (100 consultants
holding ~120 leads each and one holding 1,000, 10 % of the leads in the pool, the rest enrolled;
Chinese names from common surnames and given names). It is reused while its schema is at the
current migration head; the held leads' dates are moved to today on every run.
"""
from __future__ import annotations

import datetime as dt
import os
import time
import uuid

from bench.common import ROOT

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "bench-web-pass-1"
CONSULTANTS = 100
HELD_EACH = 120
HEAVY_HELD = 1000
SURNAMES = "王王王李李李张张张刘刘陈陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞辉宇婷晶雪琳浩文博欣怡"
NAME_SEARCH = "王伟"


def server_url(url: str) -> str:
    """The server part of a PostgreSQL URL (no database, no options)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0].rsplit("/", 1)[0]


def database_url(leads: int) -> str:
    """The benchmark database's URL (kept between runs)."""
    return f"{server_url(ADMIN_URL)}/crm_bench_web_{leads}"


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def ready(url: str) -> bool:
    """True when the database exists, is at the migration head and was filled completely."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            filled = conn.execute("SELECT to_regclass('bench_web_filled') IS NOT NULL").fetchone()[0]
    except psycopg.Error:
        return False
    return bool(version and version[0] == _head_revision() and filled)


def build(url: str, leads: int) -> float:
    """(Re)create the database, migrate it and fill it; returns seconds taken."""
    import psycopg

    started = time.perf_counter()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{server_url(ADMIN_URL)}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    from bench.common import make_app

    app = make_app(url, REDIS_URL, f"crm-bench-web-build-{uuid.uuid4().hex[:6]}", migrate=True)
    from crm.auth.models import User
    from crm.extensions import db

    with app.app_context():
        probe = User(username="x", name="x", kind=User.KIND_STAFF)
        probe.set_password(PASSWORD)
        password_hash = probe.password_hash
        db.session.remove()
        db.engine.dispose()
    fill(url, leads, password_hash)
    return time.perf_counter() - started


def fill(url: str, leads: int, password_hash: str) -> None:
    """Accounts and leads, with generate_series (see the module's docstring)."""
    import psycopg

    today = dt.date.today()
    held_rows = CONSULTANTS * HELD_EACH * 10  # held leads are g % 10 = 1 with g below this
    heavy_rows = (HEAVY_HELD - HELD_EACH) * 10
    with psycopg.connect(url, autocommit=True) as conn:
        def role(name: str) -> int:
            return conn.execute("SELECT id FROM roles WHERE name = %s", (name,)).fetchone()[0]

        conn.execute(
            """INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at)
               SELECT 'bench' || g, %s, 'staff', '顾问' || g, true, false, now() FROM generate_series(1, %s) g""",
            (password_hash, CONSULTANTS))
        conn.execute("INSERT INTO user_roles (user_id, role_id) SELECT id, %s FROM users WHERE username LIKE 'bench%%'",
                     (role("consultant"),))
        conn.execute("INSERT INTO sale_ranks (user_id, num, weight, active, updated_at) "
                     "SELECT id, 1, 1, true, now() FROM users WHERE username LIKE 'bench%%'")
        for username, title, role_name in (("benchdirector", "销售总监", "sales_director"),
                                           ("benchstaff", "前台", "staff")):
            user_id = conn.execute(
                "INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at) "
                "VALUES (%s, %s, 'staff', %s, true, false, now()) RETURNING id",
                (username, password_hash, title)).fetchone()[0]
            conn.execute("INSERT INTO user_roles (user_id, role_id) VALUES (%s, %s)", (user_id, role(role_name)))
        u0 = conn.execute("SELECT min(id) FROM users WHERE username LIKE 'bench%%'").fetchone()[0]
        # g % 10 = 0: pool (10 %); g % 10 = 1 and g < held_rows: held by consultant (g / 10) % 100
        # (~120 each), up to held_rows + heavy_rows: held by bench2 (1,000 in all); else enrolled.
        conn.execute(
            """INSERT INTO customers (qq, name, gender, source, status, consultant_id, inquiry_date, received_on,
                                      last_follow_up_on, last_lost_by_id, pool_reason, pool_since, phone, email,
                                      channel, created_at)
               SELECT (200000000 + g)::text,
                      substr(%(s)s, (1 + (g * 7919) %% %(ns)s)::int, 1)
                        || substr(%(gv)s, (1 + (g * 104729 / 7) %% %(ng)s)::int, 1)
                        || CASE WHEN g %% 3 = 0 THEN ''
                                ELSE substr(%(gv)s, (1 + (g * 15485863 / 13) %% %(ng)s)::int, 1) END,
                      1 + g %% 2, 1 + g %% 16,
                      CASE WHEN g %% 10 <= 1 AND (g %% 10 = 0 OR g < %(hh)s) THEN 1 ELSE 2 END,
                      CASE WHEN g %% 10 = 0 THEN NULL
                           WHEN g %% 10 = 1 AND g < %(held)s THEN %(u0)s + (g / 10) %% %(n)s
                           WHEN g %% 10 = 1 AND g < %(hh)s THEN %(u0)s + 1
                           ELSE %(u0)s + g %% %(n)s END,
                      %(today)s::date - 16 - (g %% 700)::int,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - 30 ELSE %(today)s::date - (g %% 12)::int END,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - 28 ELSE %(today)s::date - (g %% 3)::int END,
                      CASE WHEN g %% 10 = 0 THEN %(u0)s + g %% %(n)s END,
                      CASE WHEN g %% 10 = 0 THEN 3 + g %% 2 END,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - (g %% 60)::int END,
                      '139' || lpad(g::text, 8, '0'),
                      CASE WHEN g %% 5 = 2 THEN 'lead' || g || '@example.com' END,
                      'import', now()
               FROM generate_series(1::bigint, %(leads)s) g""",
            {"s": SURNAMES, "ns": len(SURNAMES), "gv": GIVEN, "ng": len(GIVEN), "held": held_rows,
             "hh": held_rows + heavy_rows, "u0": u0, "n": CONSULTANTS, "today": today, "leads": leads})
        conn.execute(
            """INSERT INTO customer_distributions (customer_id, consultant_id, started_on, ended_on, status, origin)
               SELECT id, coalesce(consultant_id, last_lost_by_id), received_on,
                      CASE WHEN status = 2 OR consultant_id IS NULL THEN received_on + 2 END,
                      CASE WHEN status = 2 THEN 2 WHEN consultant_id IS NULL THEN pool_reason ELSE 1 END, 'auto'
               FROM customers""")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE TABLE bench_web_filled (at timestamptz)")  # the fill finished
        conn.execute("INSERT INTO bench_web_filled VALUES (now())")


def refresh_dates(url: str) -> dict:
    """Move the held leads' dates to today (a reused database from another day); some facts for the report."""
    import psycopg

    today = dt.date.today()
    with psycopg.connect(url, autocommit=True) as conn:
        moved = conn.execute(
            """UPDATE customers SET received_on = %(t)s::date - (id %% 12), last_follow_up_on = %(t)s::date - (id %% 3)
               WHERE status = 1 AND consultant_id IS NOT NULL
                 AND (received_on IS DISTINCT FROM %(t)s::date - (id %% 12)
                      OR last_follow_up_on IS DISTINCT FROM %(t)s::date - (id %% 3))""", {"t": today}).rowcount
        if moved:
            conn.execute("VACUUM ANALYZE customers")
        facts = {"leads": conn.execute("SELECT count(*) FROM customers").fetchone()[0]}
        for username in ("bench1", "bench2"):
            facts[f"held_{username}"] = conn.execute(
                "SELECT count(*) FROM customers c JOIN users u ON u.id = c.consultant_id "
                "WHERE u.username = %s AND c.status = 1", (username,)).fetchone()[0]
        facts["pool"] = conn.execute(
            "SELECT count(*) FROM customers WHERE status = 1 AND consultant_id IS NULL").fetchone()[0]
        facts["name_matches"] = conn.execute("SELECT count(*) FROM customers WHERE name LIKE %s",
                                             (f"%{NAME_SEARCH}%",)).fetchone()[0]
        facts["lead_id"] = conn.execute(
            "SELECT c.id FROM customers c JOIN users u ON u.id = c.consultant_id WHERE u.username = 'bench1' "
            "AND c.status = 1 ORDER BY c.id LIMIT 1").fetchone()[0]
        facts["qq"] = conn.execute("SELECT qq FROM customers WHERE id = %s", (facts["lead_id"] + 7,)).fetchone()[0]
    return facts


def delete_entered(url: str, marker: str) -> int:
    """Remove the leads the lead-entry runs created (their names start with `marker`), with their rows.

    The rows that point at these leads (their holdings, courses and audit entries) are deleted
    first; the leads they referred, none, are found through ix_customers_referred_by_id.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM customers WHERE channel = 'form' AND name LIKE %s",
                                          (marker + "%",))]
        conn.execute("DELETE FROM customer_distributions WHERE customer_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM customer_courses WHERE customer_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM audit_log WHERE object_type = 'customer' AND object_id = ANY(%s)",
                     ([str(i) for i in ids],))
        deleted = conn.execute("DELETE FROM customers WHERE id = ANY(%s)", (ids,)).rowcount
        conn.commit()
    return deleted
