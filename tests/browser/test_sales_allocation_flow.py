"""S-5/S-8 end to end in Chromium: the director sets A(7, 2) and B(5, 5), staff enter seven
leads through the form, and each consultant's My customers shows exactly the leads the cycle
A B A B B B B gives them (A: 1 and 3; B: 2, 4, 5, 6, 7).

The server is a real werkzeug server in a thread on a SQLite file of its own, with real
Redis (keys under this session's prefix) and CSRF on.
"""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest
from flask import got_request_exception

from crm.celery_app import queue_keys, queue_name
from tests.browser.conftest import _CeleryForThisApp, _delete_keys, sign_in, sign_out
from tests.conftest import make_test_config

PASSWORD = "flow-pass-123"
QQS = [f"5550000{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def sales_server(tmp_root, redis_url, redis_prefix):
    """A fresh app (no demo data) with a director, a staff member and consultants A and B."""
    import celery._state
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from crm import create_app
    from crm.auth.services import create_user, seed_departments, sync_rbac
    from crm.extensions import db

    prefix = f"{redis_prefix}:salesflow"
    queue = queue_name(prefix)
    previous_celery = celery._state.default_app
    app = create_app(make_test_config(
        f"sqlite:///{tmp_root / 'sales-flow.sqlite3'}", redis_url, prefix, WTF_CSRF_ENABLED=True,
    ))
    if previous_celery is not None:
        previous_celery.set_default()
    with app.app_context():
        upgrade(revision="heads")
        sync_rbac()
        seed_departments()
        for username, name, role in [("flow_director", "主管", "sales_director"), ("flow_staff", "前台", "staff"),
                                     ("flow_a", "顾问A", "consultant"), ("flow_b", "顾问B", "consultant")]:
            create_user(None, username=username, name=name, password=PASSWORD, email=f"{username}@example.com",
                        role_names=[role], must_change_password=False)
        db.session.commit()
        db.session.remove()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, _CeleryForThisApp(app), threaded=True)
    errors: list[str] = []

    def remember(sender, exception, **_extra):
        errors.append(repr(exception))

    got_request_exception.connect(remember, app)
    thread = threading.Thread(target=server.serve_forever, name="sales-flow-server", daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", app=app, errors=errors)
    server.shutdown()
    thread.join(timeout=10)
    got_request_exception.disconnect(remember, app)
    client = app.extensions["crm_redis"]
    _delete_keys(client, f"{prefix}:*", *queue_keys(client, queue))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def flow_page(browser, sales_server):
    """A fresh browser context in English for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
    assert sales_server.errors == [], f"the server raised: {sales_server.errors!r}"


def add_consultant(page, name: str, weight: int, num: int) -> None:
    """Add one consultant to the allocation table with the page's 'Add a consultant' row."""
    page.select_option("select[name=new_user_id]", label=name)
    page.fill("input[name=new_weight]", str(weight))
    page.fill("input[name=new_num]", str(num))
    page.click("#allocation-save")
    page.wait_for_selector(".alert-success")


def my_customer_qqs(page) -> list[str]:
    """QQ numbers on the My customers page."""
    return page.eval_on_selector_all("[data-testid=current-leads] tr[data-qq]", "rows => rows.map(r => r.dataset.qq)")


def test_director_table_then_seven_leads_follow_the_cycle(flow_page, sales_server, artifacts_dir):
    page = flow_page
    sign_in(page, sales_server, "flow_director", PASSWORD)
    page.goto(f"{sales_server.url}/sales/allocation")
    add_consultant(page, "顾问A", 7, 2)
    add_consultant(page, "顾问B", 5, 5)
    assert page.inner_text("#cycle-preview").split() == ["顾问A", "顾问B", "顾问A", "顾问B", "顾问B", "顾问B", "顾问B"]
    # The saved rows are editable inline: the values the director typed are there.
    rows = page.eval_on_selector_all(
        "#allocation-form tbody tr[data-user-id]",
        "rows => rows.map(r => [r.querySelector('input[name$=weight]').value, "
        "r.querySelector('input[name$=num]').value])",
    )
    assert rows == [["7", "2"], ["5", "5"]]
    page.screenshot(path=str(artifacts_dir / "sales-allocation-table.png"), full_page=True)
    sign_out(page)

    sign_in(page, sales_server, "flow_staff", PASSWORD)
    given_to = []
    for number, qq in enumerate(QQS, start=1):
        page.goto(f"{sales_server.url}/sales/leads/new")
        page.fill("input[name=qq]", qq)
        page.fill("input[name=name]", f"客户{number}")
        page.select_option("select[name=gender]", "1")
        page.select_option("select[name=source]", "3")
        page.click("#lead-submit")
        message = page.inner_text(".alert-success")
        given_to.append("顾问A" if "顾问A" in message else "顾问B" if "顾问B" in message else message)
    page.screenshot(path=str(artifacts_dir / "sales-lead-entry.png"), full_page=True)
    assert given_to == ["顾问A", "顾问B", "顾问A", "顾问B", "顾问B", "顾问B", "顾问B"]
    sign_out(page)

    expected = {"flow_a": [QQS[0], QQS[2]], "flow_b": [QQS[1], QQS[3], QQS[4], QQS[5], QQS[6]]}
    for username, qqs in expected.items():
        sign_in(page, sales_server, username, PASSWORD)
        page.click("[data-endpoint='sales.my_customers']")
        page.wait_for_selector("[data-testid=current-leads]")
        assert sorted(my_customer_qqs(page)) == sorted(qqs), username
        page.screenshot(path=str(artifacts_dir / f"sales-my-customers-{username}.png"), full_page=True)
        sign_out(page)
