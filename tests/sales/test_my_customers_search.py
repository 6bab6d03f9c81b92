"""My customers: search and filters on both tabs, kept in the URL (S-12, P-5)."""
from __future__ import annotations

import datetime as dt

from crm.core import clock
from crm.sales import choices
from tests.factories import login, make_course, make_user
from tests.sales.lead_factories import close_holding, make_lead


def _ids(html: str, attribute: str) -> set[int]:
    import re

    return {int(v) for v in re.findall(rf'{attribute}="(\d+)"', html)}


def test_history_search_finds_a_loss_that_was_only_on_page_two(client):
    me = make_user("consultant")
    today = clock.today()
    target = make_lead(make_user("consultant"), name="十六天", qq="770000016", phone="13900000016",
                       email="Lost.One@example.com")  # as intake normalises it
    close_holding(target, me, choices.LOST_NO_CONVERSION, today - dt.timedelta(days=40), today - dt.timedelta(days=24))
    for n in range(60):  # newer rows push the loss to page 2 at 50 per page
        close_holding(make_lead(make_user("consultant") if n == 0 else None, name=f"其他{n}"), me,
                      choices.LOST_NO_FOLLOW_UP, today - dt.timedelta(days=10), today - dt.timedelta(days=6))
    login(client, me)
    first = client.get("/sales/mine?tab=history&per_page=50").get_data(as_text=True)
    assert "十六天" not in first
    for q in ("十六", "770000016", "13900000016", "Lost.One@Example.com", "Lost.One@example.com"):
        html = client.get("/sales/mine", query_string={"tab": "history", "q": q}).get_data(as_text=True)
        assert "十六天" in html and "其他1" not in html, q
    status = client.get(f"/sales/mine?tab=history&status={choices.LOST_NO_CONVERSION}").get_data(as_text=True)
    assert "十六天" in status and "其他1" not in status
    ended = (today - dt.timedelta(days=24)).isoformat()
    by_date = client.get(f"/sales/mine?tab=history&ended_from={ended}&ended_to={ended}").get_data(as_text=True)
    assert "十六天" in by_date and "其他1" not in by_date
    started = (today - dt.timedelta(days=10)).isoformat()
    recent = client.get(f"/sales/mine?tab=history&started_from={started}").get_data(as_text=True)
    assert "十六天" not in recent and "其他1" in recent
    origin = client.get("/sales/mine?tab=history&origin=grab").get_data(as_text=True)
    assert "十六天" not in origin and "其他1" not in origin
    # The filters survive paging: the pager links keep them.
    many = client.get("/sales/mine?tab=history&per_page=20&status=3").get_data(as_text=True)
    import re

    next_link = re.search(r'rel="next" href="([^"]+)"', many).group(1)
    assert "status=3" in next_link and "tab=history" in next_link and "page=2" in next_link


def test_current_tab_search_each_filter_and_sort_by_days_left(client):
    me = make_user("consultant")
    today = clock.today()
    course = make_course("Java 全栈")
    soon = make_lead(me, name="soon", source=1, courses=[course], received_on=today - dt.timedelta(days=2),
                     last_follow_up_on=today - dt.timedelta(days=3), phone="13700000001")
    later = make_lead(me, name="later", source=3, received_on=today, last_follow_up_on=today,
                      email="later@example.com")
    login(client, me)

    def shown(**args):
        return _ids(client.get("/sales/mine", query_string=args).get_data(as_text=True), "data-customer-id")

    assert shown() == {soon.id, later.id}
    assert shown(q="soo") == {soon.id}
    assert shown(q="13700000001") == {soon.id}
    assert shown(q=soon.qq) == {soon.id}
    assert shown(q="later@example.com") == {later.id}
    assert shown(source=1) == {soon.id}
    assert shown(source=3) == {later.id}
    assert shown(course=course.id) == {soon.id}
    assert shown(received_from=today.isoformat()) == {later.id}
    assert shown(received_to=(today - dt.timedelta(days=1)).isoformat()) == {soon.id}
    assert shown(source=99) == {soon.id, later.id}  # a bad value is ignored, never a 500
    html = client.get("/sales/mine").get_data(as_text=True)
    assert html.index(f'data-customer-id="{soon.id}"') < html.index(f'data-customer-id="{later.id}"')
    html = client.get("/sales/mine?sort=-expires").get_data(as_text=True)
    assert html.index(f'data-customer-id="{later.id}"') < html.index(f'data-customer-id="{soon.id}"')
    form = client.get("/sales/mine?source=1&q=soo").get_data(as_text=True)
    assert 'value="soo"' in form and '<option value="1" selected>' in form
