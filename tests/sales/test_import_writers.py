"""Workbooks written by other tools than openpyxl (xlsxwriter in both modes, LibreOffice) import what they show (S-9).

The LibreOffice tests need `soffice` (Debian's libreoffice-calc-nogui, installed by .ci/run): without it
they are skipped, except in CI (CI=true), where a missing soffice fails them.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import zipfile
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
import xlsxwriter
from flask_babel import force_locale
from openpyxl import load_workbook

from crm.core.errors import DomainError
from crm.extensions import db
from crm.sales.imports.template import build_template
from crm.sales.imports.workbook import inspect_workbook
from crm.sales.models import Customer, ImportRowError
from tests.sales.import_support import HEADERS, import_file, imported_names, next_qq, save

DAY = dt.date(2025, 11, 6)
SERIAL = (DAY - dt.date(1899, 12, 30)).days
MODES = [pytest.param(False, id="xlsxwriter"), pytest.param(True, id="xlsxwriter-constant-memory")]


@pytest.fixture(autouse=True)
def setup(import_folder, app, monkeypatch):
    """Scratch import folder, a fresh allocation queue (import_folder), small batches, English messages."""
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 3)
    with force_locale("en"):
        yield


def lead(name="张三", qq=None, **extra):
    return [qq or next_qq(), name, "男", "官方网站"] + [extra.get(header) for header in HEADERS[4:]]


def xlsx(constant_memory: bool, build) -> bytes:
    """A workbook written by xlsxwriter: `build(workbook)` adds the sheets (rows in order, as both modes need)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": constant_memory, "in_memory": not constant_memory})
    build(workbook)
    workbook.close()
    return buffer.getvalue()


def write_rows(sheet, rows, start=0, formats=None):
    for number, row in enumerate(rows, start=start):
        for column, value in enumerate(row):
            if value is None:
                continue
            style = (formats or {}).get((number, column))
            if isinstance(value, str):
                sheet.write_string(number, column, value, style)
            else:
                sheet.write_number(number, column, value, style)


def part(data: bytes, name: str) -> bytes:
    """One part of an .xlsx (b"" when absent)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name) if name in archive.namelist() else b""


def sheet_xml(data: bytes) -> bytes:
    return part(data, "xl/worksheets/sheet1.xml")


@pytest.mark.parametrize("constant_memory", MODES)
def test_hidden_first_sheet_and_the_active_sheet(app, tmp_path, constant_memory):
    def build(workbook):
        old = workbook.add_worksheet("旧数据")
        write_rows(old, [HEADERS, lead("隐藏甲"), lead("隐藏乙")])
        january = workbook.add_worksheet("一月")
        write_rows(january, [HEADERS, lead("一月甲")])
        february = workbook.add_worksheet("二月")
        write_rows(february, [HEADERS, lead("二月甲"), lead("二月乙")])
        lists = workbook.add_worksheet("lists")
        write_rows(lists, [["男"], ["女"]])
        february.activate()
        old.hide()
        lists.very_hidden()

    data = xlsx(constant_memory, build)
    info = inspect_workbook(save(tmp_path, data))
    assert (info.sheet_name, info.sheets, info.data_rows) == ("二月", ["一月", "二月"], 2)
    with pytest.raises(DomainError, match="no visible sheet"):
        inspect_workbook(save(tmp_path, data), sheet="旧数据")
    job = import_file(tmp_path, data)
    assert (job.status, job.sheet_name, job.imported) == ("done", "二月", 2)
    job = import_file(tmp_path, data, sheet="一月")
    assert (job.sheet_name, job.imported) == ("一月", 1)
    assert imported_names() == ["二月甲", "二月乙", "一月甲"]


@pytest.mark.parametrize("constant_memory", MODES)
def test_formatted_empty_rows_and_row_1048576_do_not_count(app, tmp_path, monkeypatch, constant_memory):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 6)
    rows = [HEADERS, lead(), lead(), None, lead(), lead(), None, None, lead(), lead()]

    def build(workbook):
        sheet = workbook.add_worksheet("Sheet1")
        fill = workbook.add_format({"bg_color": "#FFFF00", "num_format": "@"})
        for number in range(len(rows)):
            if rows[number] is None:
                sheet.set_row(number, 20, fill)  # an empty row with a format, between the data
            write_rows(sheet, [rows[number]] if rows[number] else [], start=number)
        for number in range(len(rows), len(rows) + 5000):
            sheet.set_row(number, 15, fill)  # formatted rows below the data
        sheet.set_row(1_048_575, 15, fill)  # the last row of the sheet, as LibreOffice leaves it
        for column in range(5):
            sheet.write_blank(1_048_575, column, None, fill)

    data = xlsx(constant_memory, build)
    assert b'<row r="1048576"' in sheet_xml(data)
    info = inspect_workbook(save(tmp_path, data))
    assert info.data_rows == 6
    job = import_file(tmp_path, data)
    assert (job.status, job.imported, job.invalid, job.total_rows, job.processed_rows) == ("done", 6, 0, 6, 6)


@pytest.mark.parametrize("constant_memory", MODES)
def test_zh_cn_date_formats_text_dates_and_escapes(app, tmp_path, constant_memory):
    date_column, memo = HEADERS.index("咨询日期"), HEADERS.index("备注")
    rows = [HEADERS]
    for format_id in (27, 31, 36, 50, 57, 58):
        rows.append(lead(f"格式{format_id}", **{"咨询日期": SERIAL}))
    rows.append(lead("文本日期", **{"咨询日期": "2025年11月6日"}))
    rows.append(lead("换行", **{"备注": "第一行\r\n第二行"}))
    rows.append(lead("字面", **{"备注": "写作 _x000D_ 的文字"}))

    def build(workbook):
        sheet = workbook.add_worksheet("Sheet1")
        formats = {(index, date_column): workbook.add_format({"num_format": format_id})
                   for index, format_id in enumerate((27, 31, 36, 50, 57, 58), start=1)}
        write_rows(sheet, rows, formats=formats)

    data = xlsx(constant_memory, build)
    job = import_file(tmp_path, data)
    assert (job.imported, job.invalid) == (len(rows) - 1, 0), db.session.scalars(sa.select(ImportRowError.reason)).all()
    leads = {customer.name: customer for customer in db.session.scalars(sa.select(Customer))}
    assert {name: customer.inquiry_date for name, customer in leads.items() if name.startswith(("格式", "文本"))} == {
        **{f"格式{format_id}": DAY for format_id in (27, 31, 36, 50, 57, 58)}, "文本日期": DAY}
    assert leads["换行"].memo == "第一行\r\n第二行"
    assert leads["字面"].memo == "写作 _x000D_ 的文字"
    assert b"_x005F_x000D_" in sheet_xml(data) or b"_x005F_x000D_" in part(data, "xl/sharedStrings.xml")
    assert rows[-1][memo] == "写作 _x000D_ 的文字"


@pytest.mark.parametrize("constant_memory", MODES)
def test_merged_title_wrapped_headers_and_unknown_columns(app, tmp_path, constant_memory):
    headers = ["序号", "QQ*", "姓\n名*", "性别*", "客户\n来源*", "微信号", "Inquiry\ndate"]
    data_rows = [[1, next_qq(), "王五", "女", "官方网站", "wx_wang", "2025-11-06"],
                 [2, next_qq(), "赵六", "男", "官方网站", "wx_zhao", None]]

    def build(workbook):
        sheet = workbook.add_worksheet("线索")
        title = workbook.add_format({"bold": True, "align": "center"})
        wrap = workbook.add_format({"text_wrap": True})
        sheet.merge_range(0, 0, 0, len(headers) - 1, "2026年11月 线索表", title)
        for column, header in enumerate(headers):
            sheet.write_string(1, column, header, wrap)
        write_rows(sheet, data_rows, start=2)

    data = xlsx(constant_memory, build)
    info = inspect_workbook(save(tmp_path, data), ignore_unknown=True)
    assert (info.header_row, info.data_rows) == (2, 2)
    assert info.keys == [None, "qq", "name", "gender", "source", None, "inquiry_date"]
    assert (info.headers[2], info.unknown) == ("姓 名*", ["序号", "微信号"])
    job = import_file(tmp_path, data, ignore_unknown=True)
    assert (job.header_row, job.imported, job.invalid, job.total_rows) == (2, 2, 0, 2)
    assert imported_names() == ["王五", "赵六"]


@pytest.mark.parametrize("constant_memory", MODES)
def test_template_example_row_left_in_is_not_imported(app, tmp_path, constant_memory):
    with app.test_request_context():
        template = load_workbook(io.BytesIO(build_template()))
    rows = [[cell.value for cell in row] for row in template.worksheets[0].iter_rows(max_row=2)]
    rows.append(lead("真实客户"))

    def build(workbook):
        write_rows(workbook.add_worksheet("客户 Leads"), rows)

    job = import_file(tmp_path, xlsx(constant_memory, build))
    assert (job.imported, job.invalid, job.duplicates) == (1, 0, 0)
    assert imported_names() == ["真实客户"]


# -- LibreOffice --------------------------------------------------------------------------------
def soffice() -> str:
    """The LibreOffice binary; a skip outside CI when it is not installed, a failure in CI."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("LibreOffice (soffice) is not installed; .ci/run installs libreoffice-calc-nogui")
    pytest.skip("LibreOffice (soffice) is not installed (apt-get install libreoffice-calc-nogui)")


def convert(binary: str, source, target_format: str, folder):
    """`soffice --headless --convert-to` with a private profile; the converted file's path."""
    folder.mkdir(exist_ok=True)
    result = subprocess.run(
        [binary, "--headless", "--norestore", f"-env:UserInstallation=file://{folder.parent / 'lo-profile'}",
         "--convert-to", target_format, "--outdir", str(folder), str(source)],
        capture_output=True, text=True, timeout=180, check=False)
    converted = folder / (source.stem + "." + target_format.split(":")[0])
    assert converted.exists(), f"soffice did not convert {source.name}: {result.stdout} {result.stderr}"
    return converted


ODS_ROW = re.compile(r"<table:table-row\b[^>]*?(?:/>|>.*?</table:table-row>)", re.S)


def ods_row(values) -> str:
    cells = "".join(
        '<table:table-cell office:value-type="string" calcext:value-type="string">'
        f"<text:p>{escape(value)}</text:p></table:table-cell>" for value in values)
    return f'<table:table-row table:style-name="ro1">{cells}</table:table-row>'


def test_template_saved_by_libreoffice_with_its_example_row_deleted(app, client, tmp_path):
    binary = soffice()
    with app.test_request_context():
        (tmp_path / "template.xlsx").write_bytes(build_template())
    flat = convert(binary, tmp_path / "template.xlsx", "fods", tmp_path / "flat")
    text = flat.read_text(encoding="utf-8")
    first_sheet = text.index("<table:table ")
    rows = list(ODS_ROW.finditer(text, first_sheet))
    assert "张三" in rows[1].group(0), "the template's second row is its example"
    leads = [[next_qq(), "李四", "女", "官方网站"], [next_qq(), "王五", "男", "官方网站"]]
    # In Calc: the example row deleted, two leads typed in its place.
    edited = text[:rows[1].start()] + "".join(ods_row(values) for values in leads) + text[rows[1].end():]
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "leads.fods").write_text(edited, encoding="utf-8")
    saved = convert(binary, tmp_path / "edited" / "leads.fods", "xlsx", tmp_path / "saved")
    data = saved.read_bytes()
    assert b"<Application>LibreOffice" in part(data, "docProps/app.xml")
    info = inspect_workbook(save(tmp_path, data))
    assert (info.sheet_name, info.header_row, info.data_rows) == ("客户 Leads", 1, 2)
    assert info.sheets == ["客户 Leads", "说明 Columns"]
    job = import_file(tmp_path, data)
    assert (job.status, job.imported, job.invalid, job.duplicates, job.total_rows) == ("done", 2, 0, 0, 2)
    assert imported_names() == ["李四", "王五"]


def test_template_saved_by_libreoffice_with_its_example_row_left_in(app, tmp_path):
    binary = soffice()
    with app.test_request_context():
        (tmp_path / "template.xlsx").write_bytes(build_template())
    # Opened and saved again as .xlsx, unchanged: the example row is still there and is not imported.
    (tmp_path / "again").mkdir()
    flat = convert(binary, tmp_path / "template.xlsx", "fods", tmp_path / "flat")
    saved = convert(binary, flat, "xlsx", tmp_path / "again")
    job = import_file(tmp_path, saved.read_bytes())
    assert (job.status, job.imported, job.invalid, job.duplicates) == ("done", 0, 0, 0)
