"""Run a command against a scratch PostgreSQL database created for it and dropped after.

Usage: python -m tests.pg_run pytest ...  (PG_ADMIN_URL names the server's admin database)
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg


def main() -> int:
    """Create crm_test_<random>, run argv with TEST_DATABASE_URL pointing at it, drop it."""
    admin_url = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
    name = f"crm_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    env = dict(os.environ, TEST_DATABASE_URL=f"{base}/{name}")
    print(f"PostgreSQL scratch database: {name}", flush=True)
    try:
        return subprocess.call(sys.argv[1:], env=env)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
