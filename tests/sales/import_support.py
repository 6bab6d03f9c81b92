"""Helpers for the Excel import tests: build workbooks, create and run jobs."""
from __future__ import annotations

import io
import itertools
from pathlib import Path

from openpyxl import Workbook

from crm.extensions import db
from crm.sales.imports.columns import COLUMNS
from crm.sales.imports.workbook import create_job

HEADERS = [column.header for column in COLUMNS]
_qq = itertools.count(700000001)


class Text(str):
    """A cell value to be written as text even when it looks like a formula."""


def next_qq() -> str:
    """A fresh QQ number."""
    return str(next(_qq))


def lead_row(**values) -> dict:
    """A valid row (column key -> value), overridable per key."""
    row = {"qq": next_qq(), "name": "张三", "gender": "男", "source": "官方网站"}
    row.update(values)
    return row


def workbook_bytes(rows: list[dict | list | None], headers: list[str] | None = None) -> bytes:
    """An .xlsx with the given header row and rows (dicts by column key, raw lists, or None for blank)."""
    headers = HEADERS if headers is None else headers
    keys_by_header = {column.header: column.key for column in COLUMNS}
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for number, row in enumerate(rows, start=2):
        if row is None:
            continue  # a missing <row> element: a blank row
        if isinstance(row, dict):
            row = [row.get(keys_by_header.get(h, h)) for h in headers]
        for column, value in enumerate(row, start=1):
            if value is not None:
                cell = ws.cell(row=number, column=column, value=str(value) if isinstance(value, Text) else value)
                if isinstance(value, Text):
                    cell.data_type = "s"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def write_file(folder: Path, rows, name: str = "leads.xlsx", headers=None) -> Path:
    """Write a workbook to `folder/name`."""
    path = folder / name
    path.write_bytes(workbook_bytes(rows, headers))
    return path


def upload_and_confirm(client, data: bytes, filename: str = "leads.xlsx", **choices):
    """Upload through the form and, when the preview opens, confirm it (with `choices` as form fields)."""
    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")
    if response.status_code == 302 and "/imports/preview/" in response.headers["Location"]:
        response = client.post(response.headers["Location"], data=choices)
    return response


def new_job(folder: Path, rows, actor_id: int | None = None, name: str = "leads.xlsx", headers=None):
    """A committed queued job for the given rows."""
    path = write_file(folder, rows, name, headers)
    job = create_job(path, name, actor_id)
    db.session.commit()
    return job


def save(folder: Path, data: bytes, name: str = "leads.xlsx") -> Path:
    """Write workbook bytes to a file in `folder`."""
    path = folder / name
    path.write_bytes(data)
    return path


def import_file(folder: Path, data: bytes, **choices):
    """Save the bytes, create a job with the preview's `choices` and run it here (no worker)."""
    from crm.sales.imports.tasks import run_import

    job = create_job(save(folder, data), "leads.xlsx", None, **choices)
    db.session.commit()
    return run_import(job.id)


def imported_names() -> list[str]:
    """The names of the leads in the database, in the order they were written."""
    import sqlalchemy as sa

    from crm.sales.models import Customer

    return list(db.session.scalars(sa.select(Customer.name).order_by(Customer.id)))
