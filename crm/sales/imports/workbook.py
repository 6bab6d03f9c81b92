"""An uploaded lead workbook: the checks (crm.core.xlsx plus the row limit and headers), storage and the job row.

The background job that reads it lives in `crm.sales.imports.tasks`.
"""
from __future__ import annotations

import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from crm.core import uow
from crm.core.errors import DomainError
from crm.core.xlsx import check_archive, check_extension, open_first_sheet, refuse, scan_sheet
from crm.extensions import db
from crm.sales.imports.columns import clean_header, match_headers, setting


def inspect_workbook(path: Path) -> SheetInfo:
    """All upload checks on a stored file: archive, row limit, readability, headers."""
    check_archive(path, max_uncompressed=setting("CRM_IMPORT_MAX_UNCOMPRESSED_BYTES"),
                  max_ratio=setting("CRM_IMPORT_MAX_RATIO"))
    try:
        workbook, sheet = open_first_sheet(path)
    except Exception:  # openpyxl raises many kinds for malformed parts; all mean "unreadable"
        raise refuse(_("The workbook could not be read; it may be damaged. Open it in Excel, save it "
                       "again and retry.")) from None
    try:
        if sheet is None:
            raise refuse(_("The workbook has no worksheet."))
        sheet_path = sheet._worksheet_path
        try:
            last_row, has_formulas = scan_sheet(path, sheet_path)
        except (zipfile.BadZipFile, OSError, EOFError, KeyError):
            raise refuse(_("The file is damaged or incomplete; it cannot be read as an .xlsx workbook.")) from None
        max_rows = setting("CRM_IMPORT_MAX_ROWS")
        if last_row - 1 > max_rows:
            raise _too_many(last_row - 1, max_rows)
        try:
            header_row = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
        except Exception:
            raise refuse(_("The workbook could not be read; it may be damaged.")) from None
        if not header_row or all(clean_header(value) == "" for value in header_row):
            raise refuse(_("The first row of the first sheet must hold the column headers; it is empty."))
        header_row = _trim_trailing_blanks(header_row)
        keys = match_headers(header_row)
    finally:
        workbook.close()
    headers = ["" if value is None else str(value) for value in header_row]
    return SheetInfo(headers, keys, max(last_row, 1), has_formulas, sheet_path)


@dataclass
class SheetInfo:
    """What the checks learned about an accepted workbook."""

    headers: list[str]  # the header row as written
    keys: list[str | None]  # column key per header position
    last_row: int  # last row number present in the sheet XML (1 = header only)
    has_formulas: bool
    sheet_path: str

    @property
    def data_rows(self) -> int:
        """Rows below the header (blank ones included)."""
        return max(0, self.last_row - 1)


def _too_many(rows: int, limit: int) -> DomainError:
    return refuse(_("The sheet has %(rows)s rows; at most %(limit)s rows can be imported at once. "
                    "Split it into smaller files.", rows=rows, limit=limit))


def _trim_trailing_blanks(row: tuple) -> tuple:
    end = len(row)
    while end and clean_header(row[end - 1]) == "":
        end -= 1
    return tuple(row[:end])


def save_upload(stream, limit: int) -> Path:
    """Copy an upload stream to a private temporary file, refusing it past `limit` bytes."""
    target = import_dir() / f"upload-{uuid.uuid4().hex}.xlsx"
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(1 << 16):
                written += len(chunk)
                if written > limit:
                    raise too_large(limit)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def too_large(limit: int) -> DomainError:
    """The refusal of a file over the size limit."""
    return refuse(_("The file is larger than %(size)s; split it into smaller files.", size=human_size(limit)))


def human_size(size: int) -> str:
    """Bytes as a short human-readable size."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    return f"{size / 1024:.0f} KB"


def create_job(source: Path, filename: str, actor_id: int | None, *, keep_source: bool = False):
    """Check a workbook and create its queued ImportJob (flush); the file moves to instance/imports/<id>.xlsx.

    The caller commits, then enqueues the task. On refusal, or if the transaction rolls back,
    nothing is left behind.
    """
    from crm.sales.models import ImportJob

    try:
        check_extension(filename)
        limit = setting("CRM_UPLOAD_MAX_BYTES")
        if source.stat().st_size > limit:
            raise too_large(limit)
        info = inspect_workbook(source)
    except BaseException:
        if not keep_source:
            source.unlink(missing_ok=True)
        raise
    job = ImportJob(created_by_id=actor_id, filename=Path(filename).name[:255], stored_path="",
                    status="queued", total_rows=info.data_rows)
    db.session.add(job)
    db.session.flush()
    target = import_dir() / f"{job.id}.xlsx"
    if keep_source:
        shutil.copyfile(source, target)
    else:
        source.replace(target)
    job.stored_path = str(target)
    db.session.flush()
    uow.after_rollback(lambda: target.unlink(missing_ok=True))  # no job row, no stored file
    return job


def import_dir() -> Path:
    """Where uploaded workbooks live: outside the web root, under instance/."""
    configured = current_app.config.get("CRM_IMPORT_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def error_workbook_path(job_id: int) -> Path:
    """Where a job's error workbook is written."""
    return import_dir() / f"{job_id}-errors.xlsx"
