"""What PostgreSQL itself spends on an import's rows, and which part of the schema costs what.

Usage: .venv/bin/python -m bench.import_schema_profile [--leads 90000] [--batch 2000] [--repeat 2]

A scratch database is built by the migrations (on PG_ADMIN_URL's server, dropped at the end);
then, for each variant of the schema, 90,000 generated leads are written as an import writes
them — per batch of 2,000: ids from the sequence, one COPY of the leads (text prepared before
the clock starts), one of their course links, one of their history rows, a commit — into a
copy of that database. Printed: the seconds of each COPY (the server's work: constraints,
indexes, triggers) and their sum, per variant, best of --repeat. The floor of bench/import.py
is a COPY into a table with no index at all; the difference is the schema's price.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
import uuid

from bench.common import make_app, scratch_postgres

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚"
LEAD_COLUMNS = ["id", "qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
                "company", "salary", "source", "phone", "email", "memo", "inquiry_date", "consultant_id",
                "received_on", "last_follow_up_on", "pool_reason", "pool_since", "status", "channel",
                "created_by_id", "created_at"]
FOREIGN_KEYS = [("customers", "fk_customers_consultant_id_users"), ("customers", "fk_customers_created_by_id_users"),
                ("customer_courses", "fk_customer_courses_customer_id_customers"),
                ("customer_courses", "fk_customer_courses_course_id_courses"),
                ("customer_distributions", "fk_customer_distributions_customer_id_customers"),
                ("customer_distributions", "fk_customer_distributions_consultant_id_users")]
LIST_INDEXES = ["ix_customers_consultant_status", "ix_customers_held_expires", "ix_customers_held_expiry",
                "ix_customers_inquiry_date_id", "ix_customers_pool_inquiry", "ix_customers_source",
                "ix_customers_status_follow_up", "ix_customers_status_received"]
VARIANTS = {
    "the schema as migrated": [],
    "without the 6 foreign keys": [f"ALTER TABLE {table} DROP CONSTRAINT {name}" for table, name in FOREIGN_KEYS],
    "without the name words (trigger and table)": ["DROP TRIGGER crm_name_words_added ON customers"],
    "without the 8 list indexes": [f"DROP INDEX {name}" for name in LIST_INDEXES],
    "without name_grams and its words": ["DROP TRIGGER crm_name_words_added ON customers",
                                         "DROP TRIGGER crm_name_words_renamed ON customers",
                                         "DROP TRIGGER crm_name_words_removed ON customers",
                                         "ALTER TABLE customers DROP COLUMN name_grams"],
}


def lead_lines(ids: list[int], first: int, consultant: int, rnd: random.Random) -> str:
    """COPY text of generated leads with the given ids (an import's columns)."""
    today, now = dt.date.today().isoformat(), dt.datetime.now(dt.timezone.utc).isoformat()
    lines = []
    for offset, new_id in enumerate(ids):
        n = first + offset
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN)
        email = f"u{n}@example.com" if n % 2 else "\\N"
        lines.append(f"{new_id}\t{10_000_000 + n}\t{name}\t1\t2\t某大学\t计算机\t1\t1\t某公司\t5000\t3\t"
                     f"138{n:08d}\t{email}\t备注\t{today}\t{consultant}\t{today}\t{today}\t\\N\t\\N\t1\timport\t"
                     f"{consultant}\t{now}\n")
    return "".join(lines)


def run_variant(url: str, leads: int, batch: int) -> dict[str, float]:
    """Write the leads in batches; seconds per COPY target."""
    import psycopg

    spent = {"customers": 0.0, "customer_courses": 0.0, "customer_distributions": 0.0}
    rnd = random.Random(1)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        consultant = cur.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()[0]
        courses = [row[0] for row in cur.execute("SELECT id FROM courses ORDER BY id")]
        today = dt.date.today().isoformat()
        for first in range(0, leads, batch):
            count = min(batch, leads - first)
            ids = [row[0] for row in cur.execute(
                "SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, %s)", (count,))]
            payloads = {
                "customers": (f"customers ({', '.join(LEAD_COLUMNS)})", lead_lines(ids, first, consultant, rnd)),
                "customer_courses": ("customer_courses (customer_id, course_id)",
                                     "".join(f"{i}\t{courses[i % len(courses)]}\n" for i in ids)),
                "customer_distributions": (
                    "customer_distributions (customer_id, consultant_id, started_on, status, origin, memo)",
                    "".join(f"{i}\t{consultant}\t{today}\t1\t3\timport\n" for i in ids)),
            }
            for table, (target, text) in payloads.items():
                started = time.perf_counter()
                with cur.copy(f"COPY {target} FROM STDIN") as copy:
                    copy.write(text.encode())
                spent[table] += time.perf_counter() - started
            conn.commit()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=90_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    import psycopg

    with scratch_postgres(ADMIN_URL, "schema") as template:
        app = make_app(template.replace("postgresql://", "postgresql+psycopg://", 1), "redis://127.0.0.1:6379/12",
                       f"crm-bench-schema-{uuid.uuid4().hex[:6]}", migrate=True)
        with app.app_context():
            from crm.extensions import db

            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(template, autocommit=True) as conn:
            conn.execute("INSERT INTO users (username, password_hash, kind, name, active, must_change_password, "
                         "created_at) VALUES ('consultant', 'x', 'staff', '顾问', true, false, now())")
            conn.execute("INSERT INTO courses (name) VALUES ('课程一'), ('课程二'), ('课程三'), ('课程四')")
        template_name = template.rsplit("/", 1)[1]
        server = template.rsplit("/", 1)[0]
        for variant, statements in VARIANTS.items():
            best = None
            for _ in range(args.repeat):
                copy_name = f"{template_name}_v"
                with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{copy_name}" TEMPLATE "{template_name}"')
                try:
                    with psycopg.connect(f"{server}/{copy_name}", autocommit=True) as conn:
                        for statement in statements:
                            conn.execute(statement)
                    spent = run_variant(f"{server}/{copy_name}", args.leads, args.batch)
                finally:
                    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')
                if best is None or sum(spent.values()) < sum(best.values()):
                    best = spent
            parts = ", ".join(f"{table} {seconds:.2f}" for table, seconds in best.items())
            print(f"{variant:45} {sum(best.values()):5.2f} s  ({parts})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
