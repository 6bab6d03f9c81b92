"""Excel import: template download and upload checks (S-9). Refusals write nothing."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.extensions import db
from crm.sales import choices
from crm.sales.imports.columns import COLUMNS
from crm.sales.models import Customer, ImportJob
from tests.factories import login, make_course, make_user
from tests.sales.import_support import HEADERS, lead_row, upload_and_confirm, workbook_bytes

pytestmark = pytest.mark.usefixtures("import_folder")


def post_file(client, data: bytes, filename: str = "leads.xlsx"):
    """Upload bytes through the form and confirm the preview when it opens."""
    return upload_and_confirm(client, data, filename)


def assert_nothing_written(folder):
    """No job, no lead, no file left behind."""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    assert not folder.exists() or list(folder.iterdir()) == []


def test_template_has_headers_dropdowns_example_and_explanation(client, importer):
    make_course("Python 全栈开发")
    make_course("Go 高级开发")
    response = client.get("/sales/imports/template.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.data))
    data, notes = wb.worksheets
    header = [cell.value for cell in data[1]]
    assert header == HEADERS
    assert "QQ*" in header and "姓名*" in header and "手机" in header
    validations = {str(v.sqref).split(":")[0][:-1]: v for v in data.data_validations.dataValidation}
    for index, column in enumerate(COLUMNS):
        letter = chr(ord("A") + index)
        if column.kind == "choice":
            assert validations[letter].type == "list"
            assert validations[letter].formula1 == '"' + ",".join(column.choices.values()) + '"'
        else:
            assert letter not in validations
    example = {h: c.value for h, c in zip(header, data[2])}
    assert example["QQ*"] == "123456789" and example["性别*"] in choices.GENDER.values()
    assert example["咨询课程"] == "Go 高级开发;Python 全栈开发"
    described = {row[0].value: [c.value for c in row] for row in notes.iter_rows(min_row=2) if row[0].value}
    for column in COLUMNS:
        assert described[column.header][1] == column.en
        assert described[column.header][2] == ("是 / yes" if column.required else "否 / no")
    assert "Python 全栈开发" in described["咨询课程"][3]
    assert "qq群" in described["客户来源*"][3]


def test_upload_needs_the_import_permission(client):
    login(client, make_user("consultant"))
    assert client.get("/sales/imports/new").status_code == 403
    assert post_file(client, workbook_bytes([lead_row()])).status_code == 403
    assert client.get("/sales/imports/template.xlsx").status_code == 403


def test_accepted_upload_stores_file_creates_queued_job_and_redirects(client, importer, import_folder):
    response = post_file(client, workbook_bytes([lead_row(), lead_row()]), "三月线索.xlsx")
    assert response.status_code == 302
    job = db.session.scalar(sa.select(ImportJob))
    assert response.headers["Location"].endswith(f"/sales/imports/{job.id}")
    assert job.status == "queued" and job.filename == "三月线索.xlsx" and job.created_by_id == importer.id
    assert job.total_rows == 2
    assert job.stored_path == str(import_folder / f"{job.id}.xlsx")
    assert sorted(p.name for p in import_folder.iterdir()) == [f"{job.id}.xlsx"]


def test_headers_match_in_english_any_order_with_spaces_and_case(client, importer):
    headers = ["  name ", "E-MAIL", "qq", " Gender*", "SOURCE"]
    data = workbook_bytes([["李四", "li@example.com", "12345678", "female", "SEO"]], headers=headers)
    assert post_file(client, data).status_code == 302


@pytest.mark.parametrize("headers, expected", [
    (["QQ", "姓名", "性别"], "Missing required columns: Source*."),
    (["QQ", "QQ", "姓名", "性别", "来源"], "Columns given twice: QQ."),
    (["qq", "名字"], "Unknown columns: 名字."),
])
def test_bad_headers_are_reported_before_any_row(client, importer, import_folder, headers, expected):
    response = post_file(client, workbook_bytes([["1"] * len(headers)], headers=headers))
    assert response.status_code == 400
    assert expected in response.get_data(as_text=True)
    assert_only_the_preview_kept(import_folder)


def assert_only_the_preview_kept(folder):
    """No job and no lead; only the upload awaiting its preview, where the columns can still be mapped."""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    assert [path.name.startswith("upload-") for path in folder.iterdir()] == [True]


def test_unknown_columns_are_listed_in_the_preview_and_ignored(client, importer, import_folder):
    qq = "12345678"
    headers = ["序号", "QQ", "姓名", "性别", "客户来源", "微信"]
    data = workbook_bytes([["7", qq, "李四", "女", "SEO", "wx_li"]], headers=headers)
    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(data), "wx.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302 and "/imports/preview/" in response.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not imported (no matching field): 序号, 微信" in preview
    confirmed = client.post(response.headers["Location"], data={})
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)[:6000]
    job = db.session.scalar(sa.select(ImportJob))
    assert confirmed.headers["Location"].endswith(f"/sales/imports/{job.id}")
    assert json.loads(job.column_keys) == [None, "qq", "name", "gender", "source", None]
    assert sorted(p.name for p in import_folder.iterdir()) == [f"{job.id}.xlsx"]


def test_unknown_and_missing_columns_are_reported_together(client, importer, import_folder):
    response = post_file(client, workbook_bytes([], headers=["QQ", "Nickname"]))
    text = response.get_data(as_text=True)
    assert "Unknown columns: Nickname." in text
    assert "Missing required columns: Name*, Gender*, Source*." in text
    assert_only_the_preview_kept(import_folder)


def _zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    good = workbook_bytes([lead_row()])
    members = {}
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    members["xl/media/padding.bin"] = b"\0" * (64 * 1024 * 1024)  # 64 MB of zeros, ~64 KB compressed
    return _zip_bytes(members)


REFUSALS = [
    ("leads.csv", lambda: b"qq,name\n123456,A\n", "Only Excel .xlsx workbooks can be imported; this file is .csv."),
    ("leads.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
     "Old Excel 97-2003 (.xls) files cannot be imported"),
    ("leads", lambda: b"x", "this file is without an extension"),
    ("leads.xlsx", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
     "This is an old Excel 97-2003 (.xls) or a password-protected workbook renamed to .xlsx"),
    ("leads.xlsx", lambda: "QQ,姓名\n123456,张三\n".encode(), "This is a text file (for example CSV) renamed to .xlsx"),
    ("leads.xlsx", lambda: bytes(range(256)) * 8, "This file is not an Excel .xlsx workbook."),
    ("leads.xlsx", lambda: b"", "The file is empty."),
    ("leads.xlsx", lambda: workbook_bytes([lead_row()] * 5)[:1500], "The file is damaged or incomplete"),
    ("leads.xlsx", lambda: _zip_bytes({"hello.txt": b"hi"}), "This is a zip archive but not an Excel workbook."),
    ("leads.xlsx", lambda: _zip_bytes({"xl/workbook.xml": b"<nonsense", "[Content_Types].xml": b"<x/>"}),
     "The workbook could not be read"),
    ("leads.xlsx", _zip_bomb, "zip bomb"),
]


@pytest.mark.parametrize("filename, make, expected", REFUSALS,
                         ids=["csv", "xls", "no-ext", "ole-renamed", "csv-renamed", "random-bytes", "empty",
                              "truncated-zip", "other-zip", "broken-xml", "zip-bomb"])
def test_bad_files_are_refused_with_a_clear_message_and_nothing_written(
        client, importer, import_folder, filename, make, expected):
    response = post_file(client, make(), filename)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert expected.replace('"', "&#34;") in text or expected in text
    assert_nothing_written(import_folder)


def test_file_over_the_size_limit_is_refused(app, client, importer, import_folder, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_UPLOAD_MAX_BYTES", 4096)
    data = workbook_bytes([lead_row(memo="x" * 200) for _ in range(200)])
    assert len(data) > 4096
    response = post_file(client, data)
    assert response.status_code == 400
    assert "The file is larger than 4 KB" in response.get_data(as_text=True)
    assert_nothing_written(import_folder)


def test_request_over_max_content_length_gets_a_friendly_413_page(app, client, importer, import_folder, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    monkeypatch.setitem(app.config, "CRM_UPLOAD_MAX_BYTES", 1024 * 1024)
    response = post_file(client, b"PK\x03\x04" + b"\0" * 10_000)
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert 'id="import-form"' in text and "The file is larger than 2 KB" in text
    assert_nothing_written(import_folder)


def test_sheet_over_the_row_limit_is_refused(app, client, importer, import_folder, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 5)
    assert post_file(client, workbook_bytes([lead_row() for _ in range(5)])).status_code == 302
    db.session.execute(sa.delete(ImportJob))
    db.session.commit()
    for path in import_folder.iterdir():
        path.unlink()
    response = post_file(client, workbook_bytes([lead_row() for _ in range(6)]))
    assert response.status_code == 400
    assert "The sheet has 6 rows; at most 5 rows can be imported at once." in response.get_data(as_text=True)
    assert_nothing_written(import_folder)


def test_row_limit_counts_rows_even_when_the_dimension_lies(app, client, importer, import_folder, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 3)
    original = workbook_bytes([lead_row() for _ in range(8)])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, replaced = re.subn(rb'<dimension ref="A1:Q9"\s*/>', b'<dimension ref="A1:Q2"/>', data)
                assert replaced == 1
            dst.writestr(info, data)
    assert load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0].max_row == 2  # the lie
    response = post_file(client, out.getvalue())
    assert "The sheet has 8 rows" in response.get_data(as_text=True)
    assert_nothing_written(import_folder)


def test_empty_sheet_is_refused(client, importer, import_folder):
    response = post_file(client, workbook_bytes([], headers=[]))
    assert "No column headers were found in the first 10 rows" in response.get_data(as_text=True)
    assert_nothing_written(import_folder)


def test_filename_with_html_is_shown_escaped(client, importer):
    response = post_file(client, workbook_bytes([lead_row()]), "<img src=x onerror=alert(1)>.xlsx")
    job_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<img src=x" not in job_page
    assert "&lt;img src=x onerror=alert(1)&gt;.xlsx" in job_page
    history = client.get("/sales/imports/").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;.xlsx" in history and "<img src=x" not in history


def test_unreachable_broker_fails_the_job_with_a_message(client, importer, monkeypatch):
    from crm.sales.imports import tasks as import_tasks

    def broker_down(job_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(import_tasks, "enqueue_import", broker_down)
    response = post_file(client, workbook_bytes([lead_row()]))
    assert response.status_code == 302
    job = db.session.scalar(sa.select(ImportJob))
    assert job.status == "failed" and "The background worker could not be reached" in job.message
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The background worker could not be reached" in page
