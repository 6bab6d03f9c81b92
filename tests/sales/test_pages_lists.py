"""The director's all-leads list: filters, search, sort, stable pagination, .xlsx export (P-5)."""
from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest

from crm.core import listing
from crm.sales import choices
from tests.factories import login, make_course, make_user
from tests.sales.lead_factories import make_lead


def ids_on(html: str) -> list[int]:
    """Lead ids of the list rows, in page order."""
    return [int(i) for i in re.findall(r'<tr data-customer-id="(\d+)"', html)]


@pytest.fixture
def leads():
    a = make_user("consultant", name="顾问A")
    b = make_user("consultant", name="顾问B")
    course = make_course()
    rows = {
        "a1": make_lead(a, name="张三", qq="10000001", phone="13900000001", source=1,
                        inquiry_date=dt.date(2026, 1, 5), courses=[course]),
        "a2": make_lead(a, name="张四", qq="10000002", source=3, inquiry_date=dt.date(2026, 2, 5)),
        "b1": make_lead(b, name="李五", qq="10000003", source=3, inquiry_date=dt.date(2026, 3, 5),
                        status=choices.ENROLLED),
        "pool": make_lead(None, name="赵六", qq="10000004", source=4, inquiry_date=dt.date(2026, 4, 5),
                          courses=[course]),
    }
    return a, b, course, rows


def test_filters_and_search(client, leads):
    a, b, course, rows = leads
    login(client, make_user("sales_director"))

    def got(query: str) -> set[int]:
        return set(ids_on(client.get(f"/sales/leads?{query}").get_data(as_text=True)))

    assert got(f"consultant={a.id}") == {rows["a1"].id, rows["a2"].id}
    assert got("unassigned=1") == {rows["pool"].id}
    assert got(f"status={choices.ENROLLED}") == {rows["b1"].id}
    assert got("source=3") == {rows["a2"].id, rows["b1"].id}
    assert got(f"course={course.id}") == {rows["a1"].id, rows["pool"].id}
    assert got("inquiry_from=2026-02-01&inquiry_to=2026-03-31") == {rows["a2"].id, rows["b1"].id}
    assert got("q=张") == {rows["a1"].id, rows["a2"].id}
    assert got("q=10000003") == {rows["b1"].id}
    assert got("q=13900000001") == {rows["a1"].id}
    assert got("q=%25") == set()  # a wildcard is searched for literally
    # Bad filter values are ignored, never a 500.
    for bad in ("status=9", "consultant=abc", "inquiry_from=2026-13-45", "source=x", "page=-4",
                "per_page=100000", "sort=password", "q=" + "x" * 5000):
        response = client.get(f"/sales/leads?{bad}")
        assert response.status_code == 200, bad


def test_sort_and_pagination_are_stable(client):
    holder = make_user("consultant")
    made = [make_lead(holder, name=f"同名{i % 3}", inquiry_date=dt.date(2026, 1, 1 + i % 4)) for i in range(45)]
    login(client, make_user("sales_director"))
    for sort in ("name", "-name", "inquiry", "-inquiry", "-id"):
        seen = []
        page = 1
        while True:
            html = client.get(f"/sales/leads?sort={sort}&per_page=20&page={page}").get_data(as_text=True)
            seen += ids_on(html)
            if 'rel="next"' not in html:
                break
            page += 1
        assert len(seen) == len(set(seen)) == 45, sort  # no row twice, none missing
        assert set(seen) == {lead.id for lead in made}
        again = ids_on(client.get(f"/sales/leads?sort={sort}&per_page=20&page=2").get_data(as_text=True))
        assert again == seen[20:40]
    html = client.get("/sales/leads?sort=-id&per_page=20").get_data(as_text=True)
    assert ids_on(html) == sorted(ids_on(html), reverse=True)


def test_links_keep_the_filters(client, leads):
    a, _b, _course, _rows = leads
    for i in range(25):
        make_lead(a, inquiry_date=dt.date(2026, 5, 1))
    login(client, make_user("sales_director"))
    html = client.get(f"/sales/leads?consultant={a.id}&per_page=20").get_data(as_text=True)
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"consultant={a.id}" in next_link and "page=2" in next_link and "per_page=20" in next_link
    detail = re.search(r'href="(/sales/leads/\d+\?next=[^"]+)"', html).group(1)
    assert "consultant" in detail  # the detail page can lead back to the filtered list


def read_xlsx(data: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def test_export_rows_equal_the_filtered_list(client, leads):
    a, _b, _course, rows = leads
    login(client, make_user("sales_director"))
    query = f"consultant={a.id}&sort=name"
    listed = ids_on(client.get(f"/sales/leads?{query}").get_data(as_text=True))
    response = client.get(f"/sales/leads/export.xlsx?{query}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    table = read_xlsx(response.data)
    assert [row[0] for row in table[1:]] == listed
    assert table[1][3] == rows["a1"].qq and table[1][8] == "顾问A"
    everything = read_xlsx(client.get("/sales/leads/export.xlsx").data)
    assert len(everything) == 1 + 4


def test_export_cap_says_it_was_cut(app):
    with app.test_request_context("/"):
        response = listing.xlsx_response("x.xlsx", ["n"], ([i] for i in range(10)), cap=3)
        response.direct_passthrough = False
        table = read_xlsx(response.get_data())
        response.close()  # as the WSGI server does: closes the temporary file
    assert [r[0] for r in table[1:4]] == [0, 1, 2]
    assert len(table) == 5 and isinstance(table[4][0], str) and "3" in table[4][0]
    assert response.headers["X-Export-Truncated"] == "1"


def test_export_neutralises_formulas(app):
    with app.test_request_context("/"):
        response = listing.xlsx_response("x.xlsx", ["n"], [["=HYPERLINK(\"http://x\")"], ["plain"]])
        response.direct_passthrough = False
        data = response.get_data()
        response.close()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet["A2"].value == "=HYPERLINK(\"http://x\")" and sheet["A2"].data_type == "s"  # text, never run
    assert sheet["A3"].value == "plain"


def test_parse_list_query_types_and_bounds():
    from werkzeug.datastructures import MultiDict

    args = MultiDict([("page", "3"), ("sort", "-name"), ("q", "  x "), ("status", "2"), ("day", "2026-02-30"),
                      ("tag", "1"), ("tag", "zz"), ("tag", "2")])
    query = listing.parse_list_query(args, sorts=["name", "id"], default_sort="-id",
                                     filters={"status": listing.to_int, "day": listing.to_date,
                                              "tag": listing.to_int}, multi=["tag"])
    assert (query.page, query.sort, query.descending, query.search) == (3, "name", True, "x")
    assert query.filters == {"status": 2, "tag": [1, 2]}
    assert query.toggled_sort("name") == "name" and query.toggled_sort("id") == "id"
    huge = listing.parse_list_query(MultiDict([("page", "10000000")]), sorts=["id"], default_sort="id")
    assert huge.page == listing.MAX_PAGE


def test_url_with_keeps_other_args(app):
    with app.test_request_context("/sales/leads?consultant=3&page=4&q=%E5%BC%A0"):
        assert listing.url_with(page=5) == "/sales/leads?consultant=3&page=5&q=%E5%BC%A0"
        assert listing.url_with(sort="-name") == "/sales/leads?consultant=3&q=%E5%BC%A0&sort=-name"
        assert listing.url_with(consultant=None, q=None) == "/sales/leads"
