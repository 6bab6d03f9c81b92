"""The migrations build the schema from nothing, go back to nothing, and match the models.

Each test gets an empty database of its own: a SQLite file always, and a
scratch PostgreSQL database (created and dropped here) when the session
runs against PostgreSQL (TEST_DATABASE_URL, as `make test-pg` sets it).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import make_test_config

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_PG = PG_URL.startswith(("postgres://", "postgresql"))


def _psycopg_url(url: str) -> str:
    """A libpq URL (psycopg.connect does not take SQLAlchemy's driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """An empty database: a SQLite file, or a PostgreSQL database created for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    if not ON_PG:
        pytest.skip("PostgreSQL runs under `make test-pg` (TEST_DATABASE_URL)")
    import psycopg

    base, _slash, _name = _psycopg_url(PG_URL).rpartition("/")
    admin_url = f"{base}/postgres"
    name = f"crm_migr_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_app(redis_url, redis_prefix):
    """Build an app bound to a given database; the engines are disposed afterwards."""
    import celery._state

    from crm import create_app
    from crm.extensions import db

    built = []

    def build(database_url: str):
        previous = celery._state.get_current_app()
        app = create_app(make_test_config(database_url, redis_url, redis_prefix))
        previous.set_current()  # a new Celery app makes itself current and default;
        previous.set_default()  # keep the session's app for the other tests
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def table_names(app) -> set[str]:
    """Tables that exist in the app's database."""
    from crm.extensions import db

    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def model_table_names() -> set[str]:
    """Tables the models declare."""
    from crm.extensions import db

    return set(db.metadata.tables)


# SQLite cannot reflect the expression index on lower(username); SQLAlchemy and Alembic say so.
SQLITE_EXPRESSION_INDEX = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index"),
]


def schema_diff(app) -> list:
    """What `flask db migrate` would generate: the models compared with the database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crm.extensions import db, include_object

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include_object})
        return compare_metadata(context, db.metadata)


def test_flask_db_upgrade_builds_every_table_from_empty(empty_database_url):
    env = dict(
        os.environ, CRM_ENV="testing", DATABASE_URL=empty_database_url,
        REDIS_URL=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade", "heads"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    from crm.config import normalise_database_url

    engine = sa.create_engine(normalise_database_url(empty_database_url))
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert model_table_names() <= tables
    assert "alembic_version" in tables


def test_downgrade_to_base_and_upgrade_again(empty_database_url, make_app):
    from flask_migrate import downgrade, upgrade

    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(revision="heads")
    assert model_table_names() <= table_names(app)

    with app.app_context():
        downgrade(revision="base")
    assert table_names(app) - {"alembic_version"} == set()

    with app.app_context():
        upgrade(revision="heads")
    assert model_table_names() <= table_names(app)


@SQLITE_EXPRESSION_INDEX[0]
@SQLITE_EXPRESSION_INDEX[1]
def test_models_match_the_migrations(empty_database_url, make_app):
    from flask_migrate import upgrade

    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(revision="heads")
    assert schema_diff(app) == []


@SQLITE_EXPRESSION_INDEX[0]
@SQLITE_EXPRESSION_INDEX[1]
def test_a_model_change_without_a_migration_is_detected(empty_database_url, make_app):
    """The comparison above is able to fail: an extra column shows up as a difference."""
    from flask_migrate import upgrade

    from crm.extensions import db

    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(revision="heads")
        with db.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE schools ADD COLUMN stray_column INTEGER"))
    diff = schema_diff(app)
    assert any(op[0] == "remove_column" and op[3].name == "stray_column" for op in diff), diff


def test_there_is_exactly_one_head(app):
    """Parallel branches must be merged or chained before release."""
    from alembic.script import ScriptDirectory
    from flask import current_app

    with app.app_context():
        config = current_app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migration heads: {sorted(heads)}"
