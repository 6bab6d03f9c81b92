"""`flask crm import-leads FILE [--as USER]` (P-8, S-9)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.sales.models import Customer, ImportJob
from tests.factories import make_user
from tests.sales.import_support import lead_row, write_file


@pytest.fixture(autouse=True)
def setup(import_folder, app, monkeypatch):
    """Scratch import folder, a fresh allocation queue (import_folder) and small batches."""
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 2)


def invoke(app, *args):
    """Run a `flask crm` command."""
    return app.test_cli_runner().invoke(args=["crm", *args])


def test_cli_imports_synchronously_as_a_user(app, tmp_path):
    user = make_user("staff", username="importer1")
    path = write_file(tmp_path, [lead_row(), lead_row(), lead_row(gender="?"), lead_row()], name="cli.xlsx")
    result = invoke(app, "import-leads", str(path), "--as", "importer1")
    assert result.exit_code == 0, result.output
    job = db.session.scalar(sa.select(ImportJob))
    assert f"import #{job.id} done: 3 imported, 0 duplicates, 1 invalid, 3 unassigned" in result.output
    assert "rejected rows: " in result.output
    assert (job.created_by_id, job.filename, job.status) == (user.id, "cli.xlsx", "done")
    assert path.exists()  # the operator's file is copied, not moved
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 3


def test_cli_refuses_a_missing_file(app, tmp_path):
    result = invoke(app, "import-leads", str(tmp_path / "nope.xlsx"))
    assert result.exit_code != 0 and "does not exist" in result.output


def test_cli_refuses_an_unknown_user(app, tmp_path):
    path = write_file(tmp_path, [lead_row()])
    result = invoke(app, "import-leads", str(path), "--as", "ghost")
    assert result.exit_code != 0 and "no user is called 'ghost'" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0


def test_cli_refuses_a_bad_workbook_with_the_upload_message(app, tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_text("qq,name\n1,2\n")
    result = invoke(app, "import-leads", str(path))
    assert result.exit_code != 0 and "Error:" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    assert path.exists()


def test_cli_sheet_header_row_and_unknown_columns(app, tmp_path):
    from tests.sales import ooxml
    from tests.sales.import_support import HEADERS, next_qq

    qq = next_qq()
    rows = [["2026年11月 线索表"], ["序号", *HEADERS[:4]], [1, qq, "王五", "女", "官方网站"]]
    data = ooxml.build([{"name": "旧", "state": "hidden", "rows": [HEADERS]},
                        {"name": "一月", "rows": rows}, {"name": "二月", "rows": [HEADERS]}], active=2)
    path = tmp_path / "wps.xlsx"
    path.write_bytes(data)
    refused = invoke(app, "import-leads", str(path), "--sheet", "一月")
    assert refused.exit_code != 0 and "序号" in refused.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0
    result = invoke(app, "import-leads", str(path), "--sheet", "一月", "--header-row", "2", "--ignore-unknown")
    assert result.exit_code == 0, result.output
    assert "sheet: 一月 (other visible sheets: 二月)" in result.output
    assert "header row: 2; rows: 1" in result.output
    assert "序号 -> ignored" in result.output and "QQ* -> QQ (QQ)" in result.output
    assert db.session.scalar(sa.select(Customer.qq)) == qq
