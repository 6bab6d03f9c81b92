"""Browser: Flask-Admin's list, create and edit pages work under a CSP without 'unsafe-inline'
(issue 12): filters, date pickers, select2 fields, bulk actions and the delete question, with no
script blocked and no script error (the `page` fixture fails on either)."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from crm.extensions import db
from crm.org.models import School
from tests.browser.conftest import sign_in


def school_titles(app) -> set[str]:
    with app.app_context():
        titles = set(db.session.scalars(sa.select(School.title)))
        db.session.remove()
    return titles


def create_school(page, url: str, title: str) -> None:
    page.goto(f"{url}/org/schools/new/")
    page.fill("input[name=title]", title)
    page.click("form.admin-form input[type=submit].btn-primary")
    page.wait_for_selector(f"tr:has-text('{title}')")


def answer_next_question(page, accept: bool, asked: list[str]) -> None:
    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)


def test_filters_date_pickers_and_select2_on_the_class_pages(page, live_server):
    url = live_server.url
    sign_in(page, live_server, "admin")
    page.goto(f"{url}/org/classes/")
    page.click("ul.nav-tabs a.nav-link.active")  # a "javascript:void(0)" tab: nothing happens, nothing blocked

    # Every filter of the list can be added; the date ones get a date picker, the others a select2.
    toggle = page.locator("li:has(.field-filters) > a.dropdown-toggle")
    filters = page.locator(".field-filters a.filter")
    toggle.click()
    count = filters.count()
    assert count >= 4
    for index in range(count):
        if index:
            toggle.click()
        filters.nth(index).click()
    rows = page.locator("#filter_form table.filters tr")
    assert rows.count() == count
    assert page.locator("#filter_form .select2-container").count() >= 1
    page.locator("#filter_form input[data-date-format]").first.click()
    page.wait_for_selector(".daterangepicker", state="visible")
    page.keyboard.press("Escape")

    # Create and edit pages: select2 on the choice fields, a date picker on the dates.
    page.goto(f"{url}/org/classes/new/")
    assert page.locator("form.admin-form .select2-container").count() >= 3
    page.click("input[name=start_date]")
    page.wait_for_selector(".daterangepicker", state="visible")
    page.goto(f"{url}/org/classes/")
    page.locator("a[title] .fa-pencil-alt, a[title] .fa-pencil").first.click()
    page.wait_for_selector("form.admin-form .select2-container")


def test_create_edit_bulk_and_row_delete_of_schools_ask_and_obey(page, live_server):
    app, url = live_server.app, live_server.url
    sign_in(page, live_server, "admin")
    first, second = f"校区-{uuid.uuid4().hex[:6]}", f"校区-{uuid.uuid4().hex[:6]}"
    create_school(page, url, first)
    create_school(page, url, second)

    # Edit: the row's pencil opens the form, saving goes back to the list.
    page.locator(f"tr:has-text('{second}') a[title] span.fa-pencil-alt, "
                 f"tr:has-text('{second}') a[title] span.fa-pencil").first.click()
    page.fill("input[name=title]", second + "改")
    page.click("form.admin-form input[type=submit].btn-primary")
    second += "改"
    page.wait_for_selector(f"tr:has-text('{second}')")

    # Bulk delete asks first; "no" keeps the row, "yes" deletes it.
    asked: list[str] = []
    page.check(f"tr:has-text('{first}') input.action-checkbox")
    answer_next_question(page, False, asked)
    page.click("li:has([data-crm-action]) > a.dropdown-toggle")
    page.click("[data-crm-action=delete]")
    assert asked and first in school_titles(app)
    answer_next_question(page, True, asked)
    page.click("li:has([data-crm-action]) > a.dropdown-toggle")
    with page.expect_navigation():
        page.click("[data-crm-action=delete]")
    assert len(asked) == 2 and first not in school_titles(app)

    # The row's trash button asks too.
    answer_next_question(page, False, asked)
    page.click(f"tr:has-text('{second}') form.icon button")
    assert len(asked) == 3 and second in school_titles(app)
    answer_next_question(page, True, asked)
    with page.expect_navigation():
        page.click(f"tr:has-text('{second}') form.icon button")
    assert len(asked) == 4 and second not in school_titles(app)
