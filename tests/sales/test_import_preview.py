"""The preview between upload and import (S-9): sheet, header row, editable mapping, first rows."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales.models import Customer, ImportJob
from tests.factories import login, make_user
from tests.sales import ooxml
from tests.sales.import_support import HEADERS, next_qq

pytestmark = pytest.mark.usefixtures("import_folder")


def upload(client, data: bytes, name="wps.xlsx") -> str:
    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/imports/preview/" in response.headers["Location"]
    return response.headers["Location"]


def run_job(app, job_id):
    from crm.sales.imports.tasks import run_import

    with app.test_request_context():
        run_import(job_id)
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def lead(name, qq=None):
    return [qq or next_qq(), name, "女", "官方网站"]


def test_hidden_sheet_never_read_and_another_visible_sheet_chosen(app, client, importer):
    data = ooxml.build([{"name": "旧数据", "state": "hidden", "rows": [HEADERS[:4], lead("隐藏甲")]},
                        {"name": "一月", "rows": [HEADERS[:4], lead("一月甲")]},
                        {"name": "二月", "rows": [HEADERS[:4], lead("二月甲"), lead("二月乙")]}], active=2)
    url = upload(client, data)
    page = client.get(url).get_data(as_text=True)
    assert "二月甲" in page and "二月乙" in page and "隐藏甲" not in page and "一月甲" not in page
    assert '<option value="二月" selected>' in page and '<option value="一月">' in page
    assert "旧数据" not in page  # a hidden sheet is not even offered
    refused = client.get(url, query_string={"sheet": "旧数据"})
    assert refused.status_code == 400 and "隐藏甲" not in refused.get_data(as_text=True)
    chosen = client.get(url, query_string={"sheet": "一月"}).get_data(as_text=True)
    assert "一月甲" in chosen and "二月甲" not in chosen
    confirmed = client.post(url, data={"sheet": "一月", "header_row": "1"})
    assert confirmed.status_code == 302
    job = db.session.scalar(sa.select(ImportJob))
    assert (job.sheet_name, job.total_rows) == ("一月", 1)
    job = run_job(app, job.id)
    assert (job.status, job.imported) == ("done", 1)
    assert list(db.session.scalars(sa.select(Customer.name))) == ["一月甲"]


def test_mapping_edits_are_respected(app, client, importer):
    headers = ["QQ", "姓名", "性别", "客户来源", "手机", "联系电话", "备注"]
    rows = [headers, lead("甲") + ["13800000001", "13900000002", "说明"]]
    url = upload(client, ooxml.build([{"name": "Sheet1", "rows": rows}], shared_strings=True))
    page = client.get(url).get_data(as_text=True)
    assert "Not imported (no matching field): 联系电话" in page
    mapping = {"map-0": "qq", "map-1": "name", "map-2": "gender", "map-3": "source", "map-4": "",
               "map-5": "phone", "map-6": ""}
    assert client.post(url, data={"sheet": "Sheet1", "header_row": "1", **mapping}).status_code == 302
    job = db.session.scalar(sa.select(ImportJob))
    assert json.loads(job.column_keys) == ["qq", "name", "gender", "source", None, "phone", None]
    run_job(app, job.id)
    customer = db.session.scalar(sa.select(Customer))
    assert (customer.phone, customer.memo) == ("13900000002", None)


def test_mapping_without_a_required_field_is_refused_and_the_file_kept(client, importer, import_folder):
    url = upload(client, ooxml.build([{"name": "Sheet1", "rows": [HEADERS[:4], lead("甲")]}]))
    response = client.post(url, data={"map-0": "qq", "map-1": "", "map-2": "gender", "map-3": "source"})
    assert response.status_code == 400
    assert "Missing required columns: Name*." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    assert client.post(url, data={}).status_code == 302  # the upload is still there to retry


def test_the_job_imports_what_the_preview_showed(app, client, importer):
    title = ["2026年11月 线索表"]
    rows = [title, ["序号", "QQ", "姓\n名", "性别", "客户\n来源"]] + [[i, *lead(f"客户{i}")] for i in range(1, 4)]
    rows += [None, [None, None]]
    url = upload(client, ooxml.build([{"name": "线索", "rows": rows, "merge": "A1:E1"}]))
    page = client.get(url).get_data(as_text=True)
    assert 'value="2"' in page and "3 rows to import." in page
    shown = [name for name in ("客户1", "客户2", "客户3") if name in page]
    assert shown == ["客户1", "客户2", "客户3"] and "线索表</td>" not in page
    assert client.post(url, data={}).status_code == 302
    job = run_job(app, db.session.scalar(sa.select(ImportJob.id)))
    assert (job.header_row, job.imported, job.invalid, job.total_rows) == (2, 3, 0, 3)
    assert sorted(db.session.scalars(sa.select(Customer.name))) == shown


def test_a_preview_belongs_to_the_session_that_uploaded_it(app, client, importer):
    url = upload(client, ooxml.build([{"name": "Sheet1", "rows": [HEADERS[:4], lead("甲")]}]))
    other = app.test_client()
    login(other, make_user("staff"))
    assert other.get(url).status_code == 404
    assert other.post(url, data={}).status_code == 404
    assert client.get(url.replace("/preview/", "/preview/x")).status_code == 404


def test_unconfirmed_previews_past_the_last_five_are_deleted(client, importer, import_folder):
    data = ooxml.build([{"name": "Sheet1", "rows": [HEADERS[:4], lead("甲")]}])
    urls = [upload(client, data) for _ in range(6)]
    assert client.get(urls[0]).status_code == 404
    assert len(list(import_folder.iterdir())) == 5
    assert client.get(urls[-1]).status_code == 200


def test_a_required_column_not_matched_by_name_is_mapped_in_the_preview(app, client, importer):
    headers = ["QQ号码", "客户姓名", "性别", "客户来源"]  # QQ and name under names of the school's own
    rows = [headers, lead("钱七"), lead("孙八")]
    url = upload(client, ooxml.build([{"name": "Sheet1", "rows": rows}], shared_strings=True))
    page = client.get(url)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Required fields without a column: QQ*, Name*." in text
    assert "钱七" in text and "2 rows to import." in text
    as_shown = {"map-0": "", "map-1": "", "map-2": "gender", "map-3": "source"}
    refused = client.post(url, data={"sheet": "Sheet1", "header_row": "1", **as_shown})
    assert refused.status_code == 400
    assert ("Missing required columns: QQ*, Name*. In the Field row of the preview, choose the column that holds "
            "each required field") in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    mapped = dict(as_shown, **{"map-0": "qq", "map-1": "name"})
    assert client.post(url, data={"sheet": "Sheet1", "header_row": "1", **mapped}).status_code == 302
    job = run_job(app, db.session.scalar(sa.select(ImportJob.id)))
    assert (job.status, job.imported, job.total_rows) == ("done", 2, 2)
    assert sorted(db.session.scalars(sa.select(Customer.name))) == ["孙八", "钱七"]


def test_blank_rows_between_rows_are_not_counted(app, client, importer, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_MAX_ROWS", 3)
    rows = [HEADERS[:4], lead("甲"), None, None, [None, "  "], lead("乙"), None, lead("丙")]
    url = upload(client, ooxml.build([{"name": "Sheet1", "rows": rows}]))
    assert "3 rows to import." in client.get(url).get_data(as_text=True)
    assert client.post(url, data={}).status_code == 302
    job = run_job(app, db.session.scalar(sa.select(ImportJob.id)))
    assert (job.imported, job.invalid, job.duplicates, job.total_rows, job.processed_rows) == (3, 0, 0, 3, 3)
