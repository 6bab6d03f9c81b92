"""List pages: search, filters, sort, pagination, stable URLs and .xlsx export (P-5)."""
from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import parse_qs, urlsplit

import openpyxl

from tests.factories import make_class, make_course, make_school, make_user
from tests.org.conftest import column_index, filter_index


def rows_of(html: str) -> list[str]:
    """The text of the 'Class' cells of a class list page, top to bottom."""
    return re.findall(r'<td class="col-course">\s*(.*?)\s*</td>', html, re.S)


def test_school_search_finds_only_matches(admin_client):
    make_school("北京昌平校区"), make_school("北京海淀校区"), make_school("上海浦东校区")
    page = admin_client.get("/org/schools/?search=北京").get_data(as_text=True)
    assert "北京昌平校区" in page and "北京海淀校区" in page
    assert "上海浦东校区" not in page


def test_class_search_matches_course_name_and_memo(admin_client):
    make_class(course=make_course("Go 语言开发"), memo="全日制")
    make_class(course=make_course("前端开发"), memo="周末班 夜间")
    make_class(course=make_course("Linux 运维"), memo="全日制")
    by_course = rows_of(admin_client.get("/org/classes/?search=Go").get_data(as_text=True))
    assert by_course == ["Go 语言开发 (cohort 1)"]
    by_memo = rows_of(admin_client.get("/org/classes/?search=夜间").get_data(as_text=True))
    assert by_memo == ["前端开发 (cohort 1)"]


def test_class_filters_by_school_course_tutor_and_start_range(app, admin_client):
    north, south = make_school("North"), make_school("South")
    python, go = make_course("PyCourse"), make_course("GoCourse")
    tutor = make_user("tutor", name="Tutor T")
    make_class(school=north, course=python, semester=1, start_date=dt.date(2026, 3, 1), tutor=tutor)
    make_class(school=north, course=go, semester=1, start_date=dt.date(2026, 9, 1))
    make_class(school=south, course=python, semester=2, start_date=dt.date(2026, 9, 15), tutor=tutor)

    school_f = filter_index(app, "classes", "School", "IdEqualFilter")
    course_f = filter_index(app, "classes", "Course", "IdEqualFilter")
    tutor_f = filter_index(app, "classes", "Tutor", "IdEqualFilter")
    between_f = filter_index(app, "classes", "Start date", "DateBetweenFilter")

    def listed(query: str) -> list[str]:
        return sorted(rows_of(admin_client.get(f"/org/classes/?{query}").get_data(as_text=True)))

    assert listed(f"flt0_{school_f}={north.id}") == ["GoCourse (cohort 1)", "PyCourse (cohort 1)"]
    assert listed(f"flt0_{course_f}={python.id}") == ["PyCourse (cohort 1)", "PyCourse (cohort 2)"]
    assert listed(f"flt0_{tutor_f}={tutor.id}") == ["PyCourse (cohort 1)", "PyCourse (cohort 2)"]
    assert listed(f"flt0_{between_f}=2026-09-01+to+2026-09-30") == ["GoCourse (cohort 1)", "PyCourse (cohort 2)"]
    assert listed(f"flt0_{school_f}={north.id}&flt1_{between_f}=2026-09-01+to+2026-09-30") == ["GoCourse (cohort 1)"]

    # The school filter offers the schools that exist now, not those of start-up time.
    page = admin_client.get("/org/classes/").get_data(as_text=True)
    assert "North" in page and "South" in page


def test_bad_filter_values_are_reported_not_crashing(app, admin_client):
    school_f = filter_index(app, "classes", "School", "IdEqualFilter")
    between_f = filter_index(app, "classes", "Start date", "DateBetweenFilter")
    for query in (f"flt0_{school_f}=abc", f"flt0_{between_f}=yesterday", f"flt0_{school_f}=99999999999999999999",
                  "page=abc", "sort=xyz", "sort=99", "page_size=-5"):
        response = admin_client.get(f"/org/classes/?{query}")
        assert response.status_code == 200, query


def test_class_list_sorts_by_price_both_ways(app, admin_client):
    course = make_course("SortCourse")
    for semester, price in ((1, 300), (2, 100), (3, 200)):
        make_class(course=course, semester=semester, price=price)
    price_col = column_index(app, "classes", "price")
    ascending = rows_of(admin_client.get(f"/org/classes/?sort={price_col}").get_data(as_text=True))
    descending = rows_of(admin_client.get(f"/org/classes/?sort={price_col}&desc=1").get_data(as_text=True))
    assert ascending == ["SortCourse (cohort 2)", "SortCourse (cohort 3)", "SortCourse (cohort 1)"]
    assert descending == list(reversed(ascending))


def test_school_list_paginates(admin_client):
    for n in range(25):
        make_school(f"Campus {n:02d}")
    first = admin_client.get("/org/schools/?page_size=20").get_data(as_text=True)
    second = admin_client.get("/org/schools/?page_size=20&page=1").get_data(as_text=True)
    assert "Campus 00" in first and "Campus 19" in first and "Campus 20" not in first
    assert "Campus 20" in second and "Campus 24" in second and "Campus 00" not in second
    assert "page=1" in first, "a link to the next page"


def test_filters_survive_edit_and_save(app, admin_client):
    north = make_school("Stable North")
    klass = make_class(school=north, semester=5)
    school_f = filter_index(app, "classes", "School", "IdEqualFilter")
    list_url = f"/org/classes/?flt0_{school_f}={north.id}&search=&sort=1&desc=1"
    page = admin_client.get(list_url).get_data(as_text=True)
    edit_link = re.search(r'href="(/org/classes/edit/\?[^"]+)"', page).group(1).replace("&amp;", "&")
    return_url = parse_qs(urlsplit(edit_link).query)["url"][0]
    assert f"flt0_{school_f}={north.id}" in return_url and "sort=1" in return_url

    response = admin_client.post(edit_link, data={
        "school": str(north.id), "course": str(klass.course_id), "semester": "6", "price": "1",
        "start_date": "2026-09-01",
    })
    assert response.status_code == 302
    assert response.headers["Location"] == return_url


def export_rows(response) -> list[list]:
    """The cell values of an exported workbook, header first."""
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_export_contains_only_the_filtered_rows(app, admin_client):
    north, south = make_school("Export North"), make_school("Export South")
    course = make_course("ExportCourse")
    make_class(school=north, course=course, semester=1, price=19800, start_date=dt.date(2026, 9, 1), memo="=1+1")
    make_class(school=north, course=course, semester=2, price=20800, start_date=dt.date(2027, 3, 1))
    make_class(school=south, course=course, semester=1, price=99, start_date=dt.date(2026, 9, 1))
    school_f = filter_index(app, "classes", "School", "IdEqualFilter")
    price_col = column_index(app, "classes", "price")

    page = admin_client.get(f"/org/classes/?flt0_{school_f}={north.id}&sort={price_col}").get_data(as_text=True)
    export_href = re.search(r'href="(/org/classes/export/xlsx/[^"]*)"', page).group(1).replace("&amp;", "&")
    assert f"flt0_{school_f}={north.id}" in export_href, "the export link carries the filters"

    rows = export_rows(admin_client.get(export_href))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Class", "Semester", "School", "Price"]
    assert [(r[0], r[2], r[3]) for r in body] == [
        ("ExportCourse (cohort 1)", "Export North", 19800), ("ExportCourse (cohort 2)", "Export North", 20800),
    ]
    start = header.index("Start date")
    assert body[0][start] == dt.datetime(2026, 9, 1)
    memo = header.index("Memo")
    assert body[0][memo] == "=1+1", "typed formulas stay text"


def test_export_of_schools_honours_search(admin_client):
    make_school("导出甲校区"), make_school("导出乙校区"), make_school("Other campus")
    rows = export_rows(admin_client.get("/org/schools/export/xlsx/?search=导出"))
    assert sorted(r[0] for r in rows[1:]) == ["导出乙校区", "导出甲校区"]
