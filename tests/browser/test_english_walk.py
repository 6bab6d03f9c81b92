"""Browser: the English UI of the pool, My customers and the dashboard shows no Chinese outside user data."""
from __future__ import annotations

import json
import re

from tests.browser.conftest import sign_in, sign_out

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

# Interface text only: headers, labels, buttons, tabs, badges and the choice options and cells.
# Lead names, course and class names, consultants' names and notes are user data and not read.
UI = ("h1, h2, th, label, button:not(#crm-language), .nav-link:not(#crm-current-user), .badge, .alert, "
      "select[name=source] option, select[name=status] option, select[name=origin] option, "
      "select[name=reason] option, [data-testid=pool-reason], [data-testid=pager], [data-testid=sidebar] a")


def _chinese_ui(page) -> list[str]:
    texts = page.eval_on_selector_all(UI, "els => els.map(e => e.innerText)")
    return [t for t in texts if CJK.search(t)]


def _use_english(page) -> None:
    """The language button names the other language: press it only while the UI is Chinese."""
    if page.inner_text("#crm-language").strip() == "English":
        page.click("#crm-language")
        page.wait_for_selector("[data-testid=sidebar]")
    assert page.inner_text("#crm-language").strip() == "中文"


def test_english_walk_of_pool_my_customers_and_dashboard(page, live_server, artifacts_dir):
    sign_in(page, live_server, "sales1")
    _use_english(page)
    for path in ("/sales/pool", "/sales/mine", "/sales/mine?tab=history"):
        page.goto(f"{live_server.url}{path}")
        assert _chinese_ui(page) == [], path
    sign_out(page)

    sign_in(page, live_server, "director")
    _use_english(page)
    page.goto(f"{live_server.url}/sales/dashboard")
    page.wait_for_selector("#consultant-chart")
    assert _chinese_ui(page) == []
    data = json.loads(page.inner_text("#dashboard-data"))
    labels = [*data["funnel"]["labels"], *data["legend"].values(), *data["axes"].values()]
    assert not [label for label in labels if CJK.search(label)], labels
    assert data["funnel"]["labels"][0] == "Received" and "Received" in page.inner_text("thead")
    # At 1366 px (the staff's laptops) the whole table is readable without scrolling it sideways.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.wait_for_timeout(300)
    overflow = page.eval_on_selector("[data-testid=dashboard-table]",
                                     "t => t.parentElement.scrollWidth - t.parentElement.clientWidth")
    assert overflow <= 0, f"the dashboard table is {overflow}px wider than its card at 1366 px"
    page.wait_for_timeout(500)  # the charts' animation
    page.screenshot(path=str(artifacts_dir / "english_dashboard.png"), full_page=True)
