"""Shared fixtures: a real database (SQLite or TEST_DATABASE_URL), real Redis.

Each test runs inside a transaction that is rolled back afterwards, so the
schema is built once per session (by the migrations) and never rebuilt.
Redis keys live under a prefix unique to this test session, in a database
number of our own, and only those keys are deleted.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from crm.devredis import answers, start_private_redis

os.environ.setdefault("CRM_ENV", "testing")

pytest_plugins = ["tests.worker_fixtures", "tests.smtp_fixtures"]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class FreshRequestClient(FlaskClient):
    """A test client whose every request starts like a real one.

    Test requests reuse the test's app context (the rollback fixture holds
    one open), so `g` would carry Flask-Login's cached user, Flask-Babel's
    cached locale and the per-request permission cache from one request into
    the next. They are dropped before each request.
    """

    def open(self, *args, **kwargs):
        from flask import g, has_app_context

        if has_app_context():
            from flask_babel import refresh

            from crm.extensions import db

            g.pop("_login_user", None)
            for obj in list(db.session.identity_map.values()):
                obj.__dict__.pop("_permission_codes", None)
            refresh()
        # Read the whole body and close the response, as a WSGI server does: a streamed
        # file (an .xlsx export) is then closed instead of being left to the garbage collector.
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def tmp_root():
    """A scratch folder for this test session."""
    path = Path(tempfile.mkdtemp(prefix="crm-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(tmp_root):
    """TEST_REDIS_URL (default: local Redis, database 13) or a private redis-server."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    if answers(url):
        yield url
        return
    private_url, process = start_private_redis(tmp_root / "redis")
    yield private_url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_prefix():
    """Key prefix unique to this session so parallel runs never touch each other's keys."""
    return f"crm-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def database_url(tmp_root):
    """TEST_DATABASE_URL (PostgreSQL in CI) or a SQLite file of this session."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.sqlite3'}"


def make_test_config(database_url: str, redis_url: str, redis_prefix: str, **extra) -> dict:
    """Config for a test app."""
    from crm.config import normalise_database_url

    config = {
        "CRM_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CRM_REDIS_PREFIX": redis_prefix,
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SERVER_NAME": None,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def app(database_url, redis_url, redis_prefix):
    """The application, with the schema built by the migrations and RBAC synced."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.auth.services import seed_departments, sync_rbac
    from crm.extensions import db

    app = create_app(make_test_config(database_url, redis_url, redis_prefix))
    app.test_client_class = FreshRequestClient
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
        upgrade(revision="heads")
        sync_rbac()
        seed_departments()
        db.session.commit()
    yield app
    with app.app_context():
        client = app.extensions["crm_redis"]
        keys = list(client.scan_iter(f"{redis_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def build_app(app, database_url, redis_url, redis_prefix):
    """Build a second application (other settings, other areas); its connections are closed afterwards.

    An app left to the garbage collector leaves its pooled database connections
    open until then (psycopg warns); this closes every class of that leak.
    """
    from crm import AREAS, create_app
    from crm.extensions import db

    built = []

    def build(*, areas: tuple[str, ...] = AREAS, **extra):
        other = create_app(make_test_config(database_url, redis_url, redis_prefix, **extra), areas=areas)
        other.test_client_class = FreshRequestClient
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    celery_app = app.extensions["celery"]  # create_app made the other app's Celery current
    celery_app.set_current()
    celery_app.set_default()


@pytest.fixture(autouse=True)
def db_transaction(request, app):
    """Run each test inside one outer transaction that is rolled back afterwards.

    Tests marked `committing` get the real engine instead and clean up
    after themselves (see `clean_database`).
    """
    from crm.extensions import db

    if request.node.get_closest_marker("committing"):
        yield None
        return
    with app.app_context():
        engines = db._app_engines[app]
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
        try:
            with app.app_context():
                yield connection
        finally:
            db.session.remove()
            transaction.rollback()
            connection.close()
            engines[None] = engine


def delete_all_rows(app) -> None:
    """Empty every table except the RBAC catalogue and departments (committing tests)."""
    from crm.extensions import db

    keep = {"permissions", "roles", "role_permissions", "departments", "alembic_version"}
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in keep:
                    conn.execute(table.delete())


@pytest.fixture
def clean_database(app):
    """For tests with real commits (threads, processes, workers): empty tables afterwards."""
    delete_all_rows(app)
    yield
    delete_all_rows(app)


@pytest.fixture
def client(app):
    """A test client (CSRF off; see csrf_app for CSRF on)."""
    return app.test_client()


@pytest.fixture
def redis_client(app):
    """The app's real Redis client."""
    return app.extensions["crm_redis"]


@pytest.fixture
def artifacts_dir():
    """Where tests leave screenshots and files for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config):
    config.addinivalue_line("markers", "committing: the test commits for real (no rollback fixture)")
