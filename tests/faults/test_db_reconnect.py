"""16.4: a request whose PostgreSQL connection is terminated before it wrote is served again; one that wrote is not.

Real PostgreSQL, real pg_terminate_backend on the request's own connection between two statements.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.core.access import public
from crm.extensions import db


@pytest.fixture
def pg_app(build_app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend needs PostgreSQL (make test-pg)")
    other = build_app()
    admin = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    runs = {"read": 0, "write": 0}

    def terminate_my_connection():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        with admin.begin() as conn:
            assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    @other.route("/_fault/read")
    @public
    def read_twice():
        runs["read"] += 1
        if runs["read"] == 1:
            terminate_my_connection()
        return str(db.session.scalar(sa.select(sa.func.count()).select_from(User)))

    @other.route("/_fault/write", methods=["POST"])
    @public
    def write_then_lose():
        runs["write"] += 1
        db.session.execute(sa.update(User).where(sa.false()).values(name="x"))  # a write, even if of no row
        terminate_my_connection()
        db.session.commit()
        return "saved"

    yield other, runs
    admin.dispose()


@pytest.mark.committing
def test_a_read_that_lost_its_connection_is_served_on_a_fresh_one(pg_app, clean_database, fault_trial, fault_report):
    other, runs = pg_app
    response = other.test_client().get("/_fault/read")
    fault_report(items=1, lost=0, doubled=0, server_errors=int(response.status_code >= 500))
    assert response.status_code == 200 and runs["read"] == 2


@pytest.mark.committing
def test_a_request_that_had_written_is_not_run_twice(pg_app, clean_database):
    other, runs = pg_app
    with pytest.raises(sa.exc.OperationalError):  # TESTING propagates it; in production the 500 page
        other.test_client().post("/_fault/write")
    assert runs["write"] == 1
