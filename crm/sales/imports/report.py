"""The error workbook of an import: every rejected row with its original values and the reason."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import sqlalchemy as sa
from openpyxl import Workbook

from crm.core.listing import excel_cell
from crm.extensions import db
from crm.sales.imports.columns import REASON_HEADER, ROW_HEADER


def write_error_workbook(job_id: int, headers: list[str], target: Path) -> int:
    """Write every rejected row of a job (original values + reason) with openpyxl write_only; atomic replace."""
    from crm.sales.models import ImportRowError

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("errors")
    sheet.append(list(headers) + [REASON_HEADER, ROW_HEADER])
    count = 0
    rows = db.session.execute(
        sa.select(ImportRowError.row_number, ImportRowError.values, ImportRowError.reason)
        .where(ImportRowError.job_id == job_id).order_by(ImportRowError.row_number)
        .execution_options(yield_per=1000)
    )
    for row_number, values, reason in rows:
        cells = json.loads(values)
        cells = cells[:len(headers)] + [None] * max(0, len(headers) - len(cells))
        sheet.append([excel_cell(sheet, value) for value in cells] + [reason, row_number])
        count += 1
    tmp = target.with_name(f"{target.stem}.{uuid.uuid4().hex}.tmp")  # two writers never share one
    workbook.save(tmp)
    tmp.replace(target)
    return count
