"""Excel import in a real browser: upload, live progress bar, error workbook download (S-9)."""
from __future__ import annotations

import time

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import sign_in
from tests.sales.import_support import HEADERS, lead_row, write_file


@pytest.fixture
def slow_small_batches(live_server, tmp_path, monkeypatch):
    """Batches of 5 rows with a pause, so the page sees the bar move; files in a scratch folder."""
    config = live_server.app.config
    monkeypatch.setitem(config, "CRM_IMPORT_DIR", str(tmp_path / "imports"))
    monkeypatch.setitem(config, "CRM_IMPORT_BATCH_SIZE", 5)
    monkeypatch.setitem(config, "CRM_IMPORT_BATCH_PAUSE_MS", 400)


def test_upload_watch_progress_and_download_rejected_rows(
        page, live_server, live_celery_worker, slow_small_batches, tmp_path, artifacts_dir):
    rows = [lead_row(name=f"浏览器{i}", qq=str(810000000 + i), courses="Python 全栈开发") for i in range(44)]
    rows += [lead_row(qq=str(810000000 + i), name=f"重复{i}") for i in range(3)]  # repeated in the file
    rows += [lead_row(qq=str(810000100), gender="未知"), lead_row(qq=str(810000101), name=None),
             lead_row(qq="12ab", name="<script>alert(1)</script>")]
    path = write_file(tmp_path, rows, name="浏览器导入.xlsx")

    sign_in(page, live_server, "director")
    page.click("[data-endpoint='sales.import_new']")
    page.wait_for_selector("#import-form")
    page.set_input_files("#import-file", str(path))
    page.screenshot(path=str(artifacts_dir / "import-1-upload.png"), full_page=True)
    page.click("#import-submit")
    page.wait_for_selector("#preview-table")
    assert page.inner_text("#preview-filename") == "浏览器导入.xlsx"
    assert page.input_value("#preview-header-row") == "1"
    assert page.get_attribute("#preview-row-count", "data-rows") == "50"
    assert "浏览器0" in page.inner_text("#preview-table")
    page.click("#preview-confirm")
    page.wait_for_selector("#import-bar")
    assert page.inner_text("#import-filename") == "浏览器导入.xlsx"

    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen.append(int(page.get_attribute("#import-bar", "aria-valuenow")))
        if page.get_attribute("#import-status", "data-status") == "done":
            break
        if len(seen) == 4:
            page.screenshot(path=str(artifacts_dir / "import-2-progress.png"), full_page=True)
        time.sleep(0.25)
    page.wait_for_selector("#import-status[data-status=done]", timeout=5_000)
    seen.append(int(page.get_attribute("#import-bar", "aria-valuenow")))
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    assert seen[-1] == 100 and page.inner_text("#import-bar").strip() == "100 %"
    assert any(0 < value < 100 for value in seen), f"the bar never showed progress between 0 and 100: {seen}"
    assert page.inner_text("#import-imported") == "44"
    assert page.inner_text("#import-duplicates") == "3"
    assert page.inner_text("#import-invalid") == "3"
    assert page.inner_text("#import-rows") == page.inner_text("#import-total") == "50"
    page.screenshot(path=str(artifacts_dir / "import-3-done.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("#import-errors-link")
    download = download_info.value
    assert download.suggested_filename.endswith("-errors.xlsx")
    saved = tmp_path / "errors.xlsx"
    download.save_as(str(saved))
    sheet = load_workbook(saved).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == HEADERS + ["原因/reason", "行号/row"]
    assert [row[-1] for row in values[1:]] == [46, 47, 48, 49, 50, 51]
    assert [row[0] for row in values[1:]] == ["810000000", "810000001", "810000002", "810000100", "810000101", "12ab"]
    assert values[6][1] == "<script>alert(1)</script>"  # original value, verbatim
    assert all(row[-2] for row in values[1:])  # every row has its reason

    page.click("#import-history-link")
    page.wait_for_selector("#import-history")
    assert "浏览器导入.xlsx" in page.inner_text("#import-history")
    page.screenshot(path=str(artifacts_dir / "import-4-history.png"), full_page=True)
