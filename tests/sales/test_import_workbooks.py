"""Workbooks as schools really send them, written by hand with the habits of Excel, WPS and LibreOffice (S-9)."""
from __future__ import annotations

import datetime as dt
import io
import threading
import time

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from crm.core.errors import DomainError
from crm.core.xlsx import CJK_DATE_FORMAT_IDS, open_sheet
from crm.extensions import db
from crm.sales.imports.template import build_template
from crm.sales.imports.workbook import inspect_workbook
from crm.sales.models import Customer, ImportRowError
from tests.sales import ooxml
from tests.sales.import_support import HEADERS, import_file, imported_names, next_qq, save

DAY = dt.date(2025, 11, 6)
SERIAL = (DAY - dt.date(1899, 12, 30)).days


@pytest.fixture(autouse=True)
def setup(import_folder, app, monkeypatch):
    """Scratch import folder, a fresh allocation queue (import_folder), small batches, English messages."""
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 3)
    with force_locale("en"):
        yield


def lead(qq=None, name="张三", **extra):
    row = [qq or next_qq(), name, "男", "官方网站"]
    return row + [extra.get(header) for header in HEADERS[4:]]


@pytest.mark.parametrize("shared", [False, True], ids=["wps-inline", "excel-shared"])
def test_hidden_first_sheet_is_never_read(app, tmp_path, shared):
    hidden_rows = [HEADERS, lead(name="旧数据"), lead(name="旧数据")]
    data = ooxml.build([{"name": "old", "state": "hidden", "rows": hidden_rows},
                        {"name": "线索", "rows": [HEADERS, lead(name="李四")]},
                        {"name": "lists", "state": "veryHidden", "rows": [["男"], ["女"]]}],
                       active=0, shared_strings=shared)
    info = inspect_workbook(save(tmp_path, data))
    assert (info.sheet_name, info.sheets) == ("线索", ["线索"])
    job = import_file(tmp_path, data)
    assert (job.status, job.imported, job.total_rows) == ("done", 1, 1)
    assert imported_names() == ["李四"]
    with pytest.raises(DomainError, match="no visible sheet"):
        inspect_workbook(save(tmp_path, data), sheet="old")


def test_active_visible_sheet_by_default_and_another_when_chosen(app, tmp_path):
    data = ooxml.build([{"name": "一月", "rows": [HEADERS, lead(name="一月甲")]},
                        {"name": "二月", "rows": [HEADERS, lead(name="二月甲"), lead(name="二月乙")]}], active=1)
    info = inspect_workbook(save(tmp_path, data))
    assert (info.sheet_name, info.sheets, info.data_rows) == ("二月", ["一月", "二月"], 2)
    job = import_file(tmp_path, data, sheet="一月")
    assert (job.sheet_name, job.imported) == ("一月", 1)
    assert imported_names() == ["一月甲"]


def test_trailing_formatted_rows_do_not_count(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 10)
    rows = [HEADERS] + [lead() for _ in range(6)] + [[(None, 1)] * 5 for _ in range(20)]
    # LibreOffice after a deleted row: an empty, formatted last row of the sheet.
    data = ooxml.build([{"name": "Sheet1", "rows": rows,
                         "extra_rows": '<row r="1048576" s="1" customFormat="1" ht="12.8"/>'}], styles=(0, 49))
    info = inspect_workbook(save(tmp_path, data))
    assert info.data_rows == 6
    job = import_file(tmp_path, data)
    assert (job.status, job.imported, job.total_rows, job.processed_rows) == ("done", 6, 6, 6)


def test_rows_with_values_still_count_for_the_limit(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 3)
    data = ooxml.build([{"name": "Sheet1", "rows": [HEADERS] + [lead() for _ in range(4)]}])
    with pytest.raises(DomainError, match="The sheet has 4 rows"):
        inspect_workbook(save(tmp_path, data))


@pytest.mark.parametrize("format_id", sorted(CJK_DATE_FORMAT_IDS))
def test_zh_cn_builtin_date_formats_read_as_dates(tmp_path, format_id):
    data = ooxml.build([{"name": "Sheet1", "rows": [["咨询日期"], [(SERIAL, 1)]]}], styles=(0, format_id))
    workbook, sheet, _names = open_sheet(save(tmp_path, data))
    try:
        value = next(sheet.iter_rows(min_row=2, max_row=2, max_col=1, values_only=True))[0]
    finally:
        workbook.close()
    assert value == dt.datetime.combine(DAY, dt.time())


def test_cjk_dates_and_escapes_import(app, tmp_path):
    date_column = HEADERS.index("咨询日期")
    numeric = lead(**{"备注": "第一行_x000D_\n第二行"})
    numeric[date_column] = (SERIAL, 1)
    text = lead()
    text[date_column] = "2025年11月6日"
    data = ooxml.build([{"name": "Sheet1", "rows": [HEADERS, numeric, text]}], styles=(0, 31), shared_strings=True)
    job = import_file(tmp_path, data)
    assert (job.imported, job.invalid) == (2, 0)
    leads = db.session.scalars(sa.select(Customer).order_by(Customer.id)).all()
    assert [c.inquiry_date for c in leads] == [DAY, DAY]
    assert leads[0].memo == "第一行\r\n第二行"


def test_title_row_above_wrapped_headers(app, tmp_path):
    headers = ["QQ*", "姓\n名*", "性别*", "客户\n来源*", "Inquiry\ndate"]
    rows = [["2026年11月 线索表"], headers, [next_qq(), "王五", "女", "官方网站", "2025-11-06"]]
    data = ooxml.build([{"name": "Sheet1", "rows": rows, "merge": "A1:E1"}])
    info = inspect_workbook(save(tmp_path, data))
    assert info.header_row == 2
    assert info.keys == ["qq", "name", "gender", "source", "inquiry_date"]
    assert info.headers[1] == "姓 名*"
    job = import_file(tmp_path, data)
    assert (job.header_row, job.imported, job.total_rows) == (2, 1, 1)
    assert imported_names() == ["王五"]


def test_missing_columns_say_which_row_was_read(app, tmp_path):
    rows = [["2026年11月 线索表"], ["QQ", "姓名", "微信号"], [next_qq(), "王五", "wx"]]
    with pytest.raises(DomainError, match="read from row 2"):
        inspect_workbook(save(tmp_path, ooxml.build([{"name": "Sheet1", "rows": rows}])))


def test_unknown_columns_refused_unless_ignored(app, tmp_path):
    rows = [["序号", *HEADERS[:4], "微信号"], [1, *lead(name="赵六")[:4], "wx1"]]
    data = ooxml.build([{"name": "Sheet1", "rows": rows}])
    with pytest.raises(DomainError, match="Unknown columns: 序号, 微信号"):
        inspect_workbook(save(tmp_path, data))
    info = inspect_workbook(save(tmp_path, data), ignore_unknown=True)
    assert info.unknown == ["序号", "微信号"]
    job = import_file(tmp_path, data, ignore_unknown=True)
    assert (job.imported, job.invalid) == (1, 0)
    assert imported_names() == ["赵六"]


def test_strict_open_xml_is_refused_with_how_to_save(app, tmp_path):
    data = ooxml.build([{"name": "Sheet1", "rows": [HEADERS, lead()]}], strict=True)
    with pytest.raises(DomainError, match="Strict Open XML"):
        inspect_workbook(save(tmp_path, data))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRowError)) == 0


def test_template_example_row_left_in_is_never_imported(app, tmp_path, client):
    with app.test_request_context():
        template = load_workbook(io.BytesIO(build_template()))
    rows = [[cell.value for cell in row] for row in template.worksheets[0].iter_rows(max_row=2)]
    rows.append(lead(name="真实客户"))
    data = ooxml.build([{"name": "客户 Leads", "rows": rows}])
    job = import_file(tmp_path, data)
    assert (job.imported, job.invalid, job.duplicates) == (1, 0, 0)
    assert imported_names() == ["真实客户"]


def _all_readers(path, max_col, decode=True):
    """The sheet as openpyxl reads it, as the lean reader and as the fast reader read it.

    openpyxl leaves inline strings' escapes as written (`decode`: decode them as we do); its shared
    strings come from our own table (crm.core.xlsx), decoded once already.
    """
    from crm.core.xlsx import decode_escapes, scan_sheet
    from crm.core.xlsx_rows import iter_values, iter_values_fast

    workbook, sheet, _names = open_sheet(path)
    try:
        last = scan_sheet(path, sheet).last_row
        slow = [tuple(decode_escapes(value) if decode and isinstance(value, str) else value for value in row)
                for row in sheet.iter_rows(min_row=1, max_row=last, max_col=max_col, values_only=True)]
        lean = list(iter_values(path, sheet, min_row=1, max_row=last, max_col=max_col))
        fast = list(iter_values_fast(path, sheet, min_row=1, max_row=last, max_col=max_col))
    finally:
        workbook.close()
    return slow, lean, fast


@pytest.mark.parametrize("shared", [False, True])
def test_the_readers_read_what_openpyxl_reads(tmp_path, shared):
    rows = [HEADERS, lead(), None, [(SERIAL, 1), (SERIAL + 0.5, 2), 1.5, 12345678901, "1.2E+8", "", (0.25, 3)],
            [None, None, "  spaced  ", "第一行_x000D_\n第二行", "_x005F_x000D_ stays"]]
    data = ooxml.build([{"name": "S", "rows": rows, "extra_rows": '<row r="9"><c r="B9" t="b"><v>0</v></c>'
                         '<c r="C9" t="e"><v>#N/A</v></c><c r="D9" t="str"><v>text result</v></c>'
                         '<c r="E9" t="inlineStr"><is><r><t xml:space="preserve">rich </t></r><r><t>text</t></r>'
                         '<rPh sb="0" eb="1"><t>ふりがな</t></rPh></is></c></row>'}],
                       styles=(0, 31, 22, 21), shared_strings=shared)
    slow, lean, fast = _all_readers(save(tmp_path, data), len(HEADERS), decode=not shared)
    assert lean == slow
    assert lean[8][1:5] == (False, "#N/A", "text result", "rich text")
    assert lean[4][3:5] == ("第一行\r\n第二行", "_x000D_ stays")
    # The fast reader reads error cells (#N/A) and empty text as blank; everything else alike.
    assert fast == [tuple(None if value == "" or value == "#N/A" else value for value in row) for row in lean]
    _soon_reads_what_fast_reads(save(tmp_path, data), len(HEADERS), fast)


def test_the_readers_read_openpyxl_written_files(tmp_path):
    from tests.sales.import_support import Text, lead_row, workbook_bytes

    data = workbook_bytes([lead_row(inquiry_date=DAY, memo=Text("=1+1")), None, lead_row(qq=123456789.0),
                           [None, 1, 2.5, dt.datetime(2025, 1, 2, 3, 4)]])
    slow, lean, fast = _all_readers(save(tmp_path, data), len(HEADERS))
    assert lean == slow == fast and len(lean) == 5
    _soon_reads_what_fast_reads(save(tmp_path, data), len(HEADERS), fast)


def _soon_reads_what_fast_reads(path, max_col, fast):
    """iter_values_soon gives the fast reader's rows wherever it switches from streaming to the loaded sheet:
    as soon as it can, after each row, never (streamed to the end); and when loading fails, streamed on."""
    from crm.core import xlsx_rows

    real_load = xlsx_rows._load_calamine
    workbook, sheet, _names = open_sheet(path)
    try:
        for switch_after in [*range(len(fast) + 1), None]:
            go, loaded = threading.Event(), threading.Event()

            def load(archive_path, title, into, go=go, loaded=loaded, wait=1 if switch_after is None else 10):
                go.wait(wait)  # never switching: the rows are streamed to the end, then the reader waits for this
                real_load(archive_path, title, into)
                loaded.set()

            xlsx_rows._load_calamine = load
            if switch_after == 0:
                go.set()  # loaded as soon as it can be: the switch comes after the first row at the soonest
            rows, reader = [], xlsx_rows.iter_values_soon(path, sheet, min_row=1, max_row=len(fast), max_col=max_col)
            for row in reader:
                rows.append(row)
                if len(rows) == switch_after:
                    go.set()
                    _wait_for(loaded)
            go.set()
            assert rows == fast, switch_after

        def broken(archive_path, title, into):
            into["error"] = OSError("unreadable")

        xlsx_rows._load_calamine = broken
        rows = []
        for row in xlsx_rows.iter_values_soon(path, sheet, min_row=1, max_row=len(fast), max_col=max_col):
            rows.append(row)
            _wait_for_no_loader()  # it ended with its error after the first row
        assert rows == fast
    finally:
        xlsx_rows._load_calamine = real_load
        workbook.close()


def _wait_for(loaded: threading.Event) -> None:
    """Until the loading thread has finished (not only set its event)."""
    assert loaded.wait(10)
    _wait_for_no_loader()


def _wait_for_no_loader() -> None:
    deadline = time.monotonic() + 10
    while any(thread.name == "xlsx-calamine" for thread in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_an_escaped_escape_is_the_literal_text(app, tmp_path):
    memo = HEADERS.index("备注")
    rows = [HEADERS, lead(**{"备注": "a_x005F_x000D_b_x000D_c"})]
    for shared in (False, True):
        db.session.execute(sa.delete(Customer))
        rows[1][0] = next_qq()
        job = import_file(tmp_path, ooxml.build([{"name": "S", "rows": rows}], shared_strings=shared))
        assert (job.imported, rows[1][memo]) == (1, "a_x005F_x000D_b_x000D_c")
        assert db.session.scalar(sa.select(Customer.memo)) == "a_x000D_b\rc"
