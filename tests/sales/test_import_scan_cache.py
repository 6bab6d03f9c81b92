"""The upload's row scan is done once per file (preview, confirm and job reuse it); the example row is not counted."""
from __future__ import annotations

import io
import re

import pytest
import redis as redis_lib
from openpyxl import load_workbook

from crm.extensions import db, redis
from crm.sales.imports import scan_cache
from crm.sales.imports.template import build_template
from crm.sales.imports.workbook import inspect_workbook
from crm.sales.models import ImportJob
from tests.sales import ooxml
from tests.sales.import_support import lead_row, save, workbook_bytes

pytestmark = pytest.mark.usefixtures("import_folder")


@pytest.fixture
def scans(monkeypatch):
    """How many times the sheet XML was scanned."""
    calls = []
    real = scan_cache.scan_sheet

    def counted(path, sheet, **options):
        calls.append(options.get("count_rows", True))
        return real(path, sheet, **options)

    monkeypatch.setattr(scan_cache, "scan_sheet", counted)
    return calls


def row_count(page: str) -> int:
    return int(re.search(r'id="preview-row-count" data-rows="(\d+)"', page).group(1))


def test_upload_preview_confirm_and_job_scan_the_sheet_once(app, client, importer, scans):
    from crm.sales.imports.tasks import run_import

    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(workbook_bytes(
        [lead_row() for _ in range(3)])), "leads.xlsx")}, content_type="multipart/form-data")
    preview = response.headers["Location"]
    assert scans == [True]
    for _ in range(2):  # the preview opened, then opened again
        assert row_count(client.get(preview).get_data(as_text=True)) == 3
    response = client.post(preview, data={})
    assert response.status_code == 302
    job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with app.test_request_context():
        run_import(job_id)
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.total_rows, job.imported) == ("done", 3, 3)
    assert scans == [True]  # the job's copy of the upload has the same bytes: its scan is found too


def test_a_changed_file_is_scanned_again(app, tmp_path, scans):
    path = save(tmp_path, workbook_bytes([lead_row() for _ in range(3)]))
    assert inspect_workbook(path).data_rows == 3
    assert inspect_workbook(path).data_rows == 3
    assert scans == [True]
    path.write_bytes(workbook_bytes([lead_row() for _ in range(5)]))  # replaced under the same name
    assert inspect_workbook(path).data_rows == 5
    assert scans == [True, True]
    assert inspect_workbook(path, count_rows=False).data_rows == 5  # a job finds the upload's count


def test_a_job_file_never_scanned_is_looked_at_for_formulas_only(app, tmp_path, scans):
    path = save(tmp_path, workbook_bytes([lead_row() for _ in range(2)]))
    info = inspect_workbook(path, count_rows=False)
    assert (info.data_rows, info.last_row, scans) == (None, None, [False])
    assert inspect_workbook(path).data_rows == 2  # the formula-only pass was not remembered as a count
    assert scans == [False, True]


def test_without_redis_the_sheet_is_scanned_each_time(app, tmp_path, scans, monkeypatch):
    def down(*args, **kwargs):
        raise redis_lib.ConnectionError("Redis is down")

    monkeypatch.setattr(redis.client, "get", down)
    monkeypatch.setattr(redis.client, "set", down)
    path = save(tmp_path, workbook_bytes([lead_row() for _ in range(4)]))
    assert inspect_workbook(path).data_rows == 4
    assert inspect_workbook(path).data_rows == 4
    assert scans == [True, True]


def test_an_unreadable_cache_entry_is_scanned_again(app, tmp_path, scans):
    path = save(tmp_path, workbook_bytes([lead_row() for _ in range(2)]))
    assert inspect_workbook(path).data_rows == 2
    keys = list(redis.client.scan_iter(redis.key("import", "scan", "*", scan_cache.file_digest(path), "*")))
    assert len(keys) == 1
    redis.client.set(keys[0], "not json")
    assert inspect_workbook(path).data_rows == 2
    assert scans == [True, True]


def test_rows_with_gaps_survive_the_cache(app, tmp_path, scans):
    rows = [lead_row(), None, None, lead_row(), lead_row(), None, lead_row()]
    path = save(tmp_path, workbook_bytes(rows))
    first = inspect_workbook(path)
    again = inspect_workbook(path)
    assert (first.data_rows, first.last_row) == (again.data_rows, again.last_row) == (4, 8)
    assert scans == [True]


def test_the_template_example_row_is_not_counted_in_the_preview_or_the_progress(app, client, importer):
    from crm.sales.imports.tasks import run_import

    with app.test_request_context():
        template = load_workbook(io.BytesIO(build_template()))
    rows = [[cell.value for cell in row] for row in template.worksheets[0].iter_rows(max_row=2)]
    rows += [[lead["qq"], lead["name"], lead["gender"], lead["source"]] for lead in (lead_row(), lead_row())]
    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(ooxml.build(
        [{"name": "客户 Leads", "rows": rows}])), "template.xlsx")}, content_type="multipart/form-data")
    preview = response.headers["Location"]
    page = client.get(preview).get_data(as_text=True)
    assert row_count(page) == 2
    assert "2 rows to import." in page
    response = client.post(preview, data={})
    job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert db.session.get(ImportJob, job_id).total_rows == 2
    with app.test_request_context():
        run_import(job_id)
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.processed_rows, job.total_rows, job.imported, job.invalid) == ("done", 2, 2, 2, 0)
