"""Each demo role sees exactly its sidebar (P-3), and the language switch works."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.auth.catalog import codes_for_role
from crm.demo import DEMO_ACCOUNTS
from tests.browser.conftest import sign_in, sign_out

ROLE_OF = {username: role for username, _name, role, _dept in DEMO_ACCOUNTS}
USERS = ["admin", "ceo", "director", "sales1", "tutor1", "teacher1", "staff1", "student1"]

# Pairs written out by hand, so a wrong catalogue or menu cannot agree with itself.
MUST_SEE = {
    "admin": {"users.index_view", "auth.roles", "audit.index_view", "schools.index_view", "api_tokens.token_list"},
    "ceo": {"audit.index_view", "classes.index_view", "sales.lead_list", "sales.dashboard"},
    "director": {"sales.allocation_table", "sales.lead_list", "sales.pool", "sales.my_customers"},
    "sales1": {"sales.my_customers", "sales.pool", "sales.lead_new", "sales.dashboard"},
    "tutor1": {"classes.index_view"},
    "teacher1": {"classes.index_view"},
    "staff1": {"sales.lead_new", "sales.import_new"},
    "student1": set(),
}
MUST_NOT_SEE = {
    "admin": set(),
    "ceo": {"users.index_view", "auth.roles", "sales.lead_new", "sales.allocation_table", "sales.my_customers"},
    "director": {"users.index_view", "auth.roles", "audit.index_view", "api_tokens.token_list"},
    "sales1": {"users.index_view", "auth.roles", "audit.index_view", "schools.index_view", "classes.index_view",
               "sales.allocation_table", "sales.lead_list", "sales.import_new"},
    "tutor1": {"users.index_view", "audit.index_view", "sales.pool", "sales.lead_new"},
    "teacher1": {"users.index_view", "auth.roles", "audit.index_view", "sales.my_customers"},
    "staff1": {"users.index_view", "schools.index_view", "classes.index_view", "sales.my_customers", "sales.pool",
               "sales.lead_list"},
    "student1": {"users.index_view", "auth.roles", "audit.index_view", "schools.index_view", "classes.index_view",
                 "sales.lead_new", "sales.pool"},
}
# Areas (data-area) a role must not see at all.
MUST_NOT_SEE_AREA = {"student1": {"org", "auth", "sales"}, "sales1": {"org", "auth"}, "staff1": {"org", "auth"},
                     "tutor1": {"sales", "auth"}, "teacher1": {"sales", "auth"}}


def expected_entries(app, role: str) -> list[str]:
    """Sidebar endpoints of a default role, from the catalogue and the registered menu."""
    codes = codes_for_role(role)
    areas = sorted(app.extensions.get("crm_menu", {}).values(), key=lambda area: area.order)
    entries = ["core.home"]
    for area in areas:
        entries += [item.endpoint for item in area.items if item.permission is None or item.permission in codes]
    return entries


def sidebar_entries(page) -> list[str]:
    """The data-endpoint of every sidebar link, in order."""
    return page.eval_on_selector_all(
        "[data-testid=sidebar] a.crm-item", "links => links.map(link => link.dataset.endpoint)"
    )


@pytest.mark.parametrize("username", USERS)
def test_sidebar_matches_the_role(page, live_server, artifacts_dir, username):
    sign_in(page, live_server, username)
    entries = sidebar_entries(page)
    page.screenshot(path=str(artifacts_dir / f"home-{username}.png"), full_page=True)

    assert entries == expected_entries(live_server.app, ROLE_OF[username])
    assert MUST_SEE[username] <= set(entries)
    assert not MUST_NOT_SEE[username] & set(entries)
    areas = set(page.eval_on_selector_all("[data-testid=sidebar] [data-area]", "els => els.map(e => e.dataset.area)"))
    assert not MUST_NOT_SEE_AREA.get(username, set()) & areas


@pytest.mark.parametrize("username", USERS)
def test_every_sidebar_entry_opens_and_hidden_pages_are_refused(page, live_server, username):
    sign_in(page, live_server, username)
    links = page.eval_on_selector_all(
        "[data-testid=sidebar] a.crm-item",
        "links => links.map(link => [link.dataset.endpoint, link.getAttribute('href')])",
    )
    for endpoint, href in links:
        response = page.request.get(live_server.url + href)
        assert response.status == 200, f"{username}: {endpoint} ({href}) answered {response.status}"

    shown = {endpoint for endpoint, _href in links}
    with live_server.app.test_request_context():
        from flask import url_for

        hidden = {e: url_for(e) for e in ("users.index_view", "audit.index_view", "schools.index_view",
                                          "sales.allocation_table", "sales.my_customers", "sales.lead_list")}
    for endpoint, href in hidden.items():
        if endpoint not in shown:
            response = page.request.get(live_server.url + href, max_redirects=0)
            assert response.status == 403, f"{username} opened hidden {href}: {response.status}"


def test_the_language_switch_toggles_chinese_and_english(page, live_server):
    from crm.auth.models import User
    from crm.extensions import db

    with live_server.app.app_context():
        before = db.session.scalar(sa.select(User.locale).where(User.username == "staff1"))
    try:
        sign_in(page, live_server, "staff1")
        # Chinese is the default.
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert page.inner_text("#crm-logout").strip() == "退出登录"
        assert page.inner_text("#crm-language").strip() == "English"

        page.click("#crm-language")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.inner_text("#crm-logout").strip() == "Sign out"
        assert page.inner_text("#crm-language").strip() == "中文"
        assert "Home" in page.inner_text("[data-testid=sidebar]")

        # The choice is kept on the account: a new browser session opens in English.
        sign_out(page)
        page.context.clear_cookies()
        sign_in(page, live_server, "staff1")
        assert page.get_attribute("html", "lang") == "en"

        page.click("#crm-language")
        page.wait_for_function("document.documentElement.lang === 'zh-CN'")
        assert page.inner_text("#crm-logout").strip() == "退出登录"
        assert "首页" in page.inner_text("[data-testid=sidebar]")
    finally:
        with live_server.app.app_context():
            db.session.execute(sa.update(User).where(User.username == "staff1").values(locale=before))
            db.session.commit()
