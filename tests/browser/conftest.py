"""Browser fixtures: a real server in a thread, Debian's Chromium through Playwright.

The live server runs an application of its own: its own SQLite file (built
by the migrations, RBAC synced, demo data seeded), real Redis under a key
prefix inside this session's prefix, its own Celery queue, and CSRF on, as
in production. It never shares the per-test transaction of the main `app`
fixture, so every test in this folder is marked `browser` and `committing`
(the latter keeps the autouse rollback fixture out of the way).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, got_request_exception

from crm.celery_app import queue_keys, queue_name
from tests.catalogs import compile_catalogs
from tests.conftest import make_test_config

HERE = Path(__file__).resolve().parent
DEMO_PASSWORD = "demo1234"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/browser `browser` and `committing` (before -m deselects)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.committing)


@dataclass
class LiveServer:
    """A running server: `url` without a trailing slash, the Flask `app`, and server errors."""

    url: str
    app: Flask
    errors: list = field(default_factory=list)
    celery_queue: str = ""

    def check_no_server_errors(self) -> None:
        """Fail when a request raised inside the app since the last check."""
        errors, self.errors[:] = list(self.errors), []
        assert errors == [], f"the server raised: {errors!r}"


class _CeleryForThisApp:
    """WSGI wrapper: requests of the live app queue tasks through the live app's Celery.

    Celery's "current app" is per thread and falls back to the process-wide
    default, which stays the main test app's; without this, `task.delay()`
    in a live request would go to the main app's queue.
    """

    def __init__(self, flask_app: Flask):
        self.flask_app = flask_app
        self.celery_app = flask_app.extensions["celery"]

    def __call__(self, environ, start_response):
        self.celery_app.set_current()
        return self.flask_app(environ, start_response)


def _delete_keys(client, pattern: str, *exact: str) -> None:
    keys = [*client.scan_iter(pattern, count=1000), *exact]
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def live_server(tmp_root, redis_url, redis_prefix):
    """The application with demo data, served by werkzeug on a free port in a thread."""
    import celery._state
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from crm import create_app
    from crm.demo import seed_demo
    from crm.extensions import db

    compile_catalogs()
    database = tmp_root / "live.sqlite3"
    prefix = f"{redis_prefix}:live"
    queue = queue_name(prefix)
    previous_celery = celery._state.get_current_app()
    app = create_app(make_test_config(f"sqlite:///{database}", redis_url, prefix, WTF_CSRF_ENABLED=True))
    # A new Celery app makes itself current and default; other tests keep the main app's.
    previous_celery.set_current()
    previous_celery.set_default()
    with app.app_context():
        upgrade(revision="heads")
        seed_demo(password=DEMO_PASSWORD)
        db.session.commit()
        db.session.remove()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
    server = make_server("127.0.0.1", 0, _CeleryForThisApp(app), threaded=True)
    live = LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, celery_queue=queue)

    def remember(sender, exception, **_extra):
        live.errors.append(repr(exception))

    got_request_exception.connect(remember, app)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield live
    server.shutdown()
    thread.join(timeout=10)
    got_request_exception.disconnect(remember, app)
    client = app.extensions["crm_redis"]
    _delete_keys(client, f"{prefix}:*", *queue_keys(client, queue))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_celery_worker(live_server):
    """A real Celery worker (thread, solo pool) consuming the live server's queue."""
    from celery.contrib.testing.worker import start_worker

    celery_app = live_server.app.extensions["celery"]
    celery_app.loader.import_default_modules()
    with start_worker(
        celery_app, pool="solo", concurrency=1, perform_ping_check=False,
        queues=[live_server.celery_queue], shutdown_timeout=30, loglevel="WARNING",
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's build), shared by the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) and page for one test; fails on server errors, scripts the CSP
    blocked and script exceptions."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    script_problems: list[str] = []
    # A script the CSP blocked, or one that threw: the page looks fine but does not work.
    page.on("console", lambda message: script_problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: script_problems.append(str(error)))
    live_server.errors.clear()
    yield page
    context.close()
    live_server.check_no_server_errors()
    assert script_problems == [], script_problems


def sign_in(page, live_server, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login form and wait until the start page is shown."""
    page.goto(f"{live_server.url}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_selector("[data-testid=sidebar]")


def sign_out(page) -> None:
    """Sign out with the navbar button."""
    page.click("#crm-logout")
    page.wait_for_selector("#login-submit")
