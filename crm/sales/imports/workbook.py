"""An uploaded lead workbook: the checks (crm.core.xlsx plus the row limit and headers), storage and the job row.

The background job that reads it lives in `crm.sales.imports.tasks`.
"""
from __future__ import annotations

import json
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from crm.core import uow
from crm.core.errors import DomainError
from crm.core.xlsx import check_archive, check_extension, open_sheet, refuse
from crm.core.xlsx_rows import iter_values
from crm.extensions import db
from crm.sales.imports.columns import (
    HEADER_SEARCH_ROWS,
    clean_header,
    display_header,
    find_header_row,
    map_headers,
    setting,
)
from crm.sales.imports.scan_cache import cached_scan
from crm.sales.imports.template import is_example_row


def inspect_workbook(path: Path, *, sheet: str | None = None, header_row: int | None = None,
                     mapping: list[str | None] | None = None, ignore_unknown: bool = False,
                     lenient: bool = False, count_rows: bool = True) -> SheetInfo:
    """All upload checks on a stored file: archive, sheet, header row, row limit, readability, headers.

    `sheet` (a visible sheet's name; default the active visible one), `header_row` (default:
    detected in the first rows) and `mapping` (column key per position; default by header name)
    are the preview's choices. `lenient` (the preview): columns that are missing, repeated or
    unknown are reported on the result (`header_problem`) instead of refused, so the user can map them.
    The sheet's row scan is remembered per file (crm.sales.imports.scan_cache): the preview, the confirm
    and the job reuse the upload's. Without `count_rows` (a job, counted at upload) a file not in that
    cache is not counted again unless the sheet has formulas, and `last_row`/`data_rows` are None.
    """
    check_archive(path, max_uncompressed=setting("CRM_IMPORT_MAX_UNCOMPRESSED_BYTES"),
                  max_ratio=setting("CRM_IMPORT_MAX_RATIO"))
    try:
        workbook, worksheet, sheets = open_sheet(path, sheet)
    except DomainError:
        raise
    except Exception:  # openpyxl raises many kinds for malformed parts; all mean "unreadable"
        raise refuse(_("The workbook could not be read; it may be damaged. Open it in Excel, save it "
                       "again and retry.")) from None
    try:
        if worksheet is None:
            raise refuse(_("The workbook has no visible worksheet."))
        try:
            scan = cached_scan(path, worksheet, count_rows=count_rows)
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError):
            raise refuse(_("The file is damaged or incomplete; it cannot be read as an .xlsx workbook.")) from None
        try:
            top = list(iter_values(path, worksheet, min_row=1, max_row=HEADER_SEARCH_ROWS, max_col=None))
            if header_row is not None and header_row > len(top):
                header = next(iter_values(path, worksheet, min_row=header_row, max_row=header_row, max_col=None))
        except Exception:
            raise refuse(_("The workbook could not be read; it may be damaged.")) from None
        if header_row is None:
            header_row = find_header_row(top)
        header_row = max(1, int(header_row))
        if header_row <= len(top):
            header = top[header_row - 1]
        if not header or all(clean_header(value) == "" for value in header):
            raise refuse(_("No column headers were found in the first %(rows)s rows of the sheet \"%(sheet)s\"; "
                           "row %(row)s is empty.", rows=HEADER_SEARCH_ROWS, sheet=worksheet.title, row=header_row))
        header = _trim_trailing_blanks(header)
        match = map_headers(header, mapping)
        data_rows = last_row = None
        if scan.counted:
            # The template's example row, left in below the header, is never imported: not counted either
            # (the job skips it like a blank row wherever it is; here the rows read for the header are looked at).
            examples = sum(1 for row in top[header_row:] if is_example_row(match.keys, row))
            data_rows, last_row = scan.rows_after(header_row) - examples, max(scan.last_row, header_row)
            max_rows = setting("CRM_IMPORT_MAX_ROWS")
            if data_rows > max_rows:
                raise _too_many(data_rows, max_rows)
        problem = match.problems(ignore_unknown=ignore_unknown or mapping is not None,
                                 header_row_number=header_row, mapped=mapping is not None)
        if problem and not lenient:
            raise refuse(problem)
    finally:
        workbook.close()
    headers = [display_header(value) for value in header]
    return SheetInfo(headers, match.keys, last_row, scan.uncached_formulas,
                     worksheet._worksheet_path, worksheet.title, sheets, header_row, match.unknown, data_rows,
                     match.missing, problem if lenient else None)


@dataclass
class SheetInfo:
    """What the checks learned about an accepted workbook."""

    headers: list[str]  # the header row as written (on one line)
    keys: list[str | None]  # column key per header position
    last_row: int | None  # last row number holding a value (header_row = header only; None: not counted)
    has_formulas: bool  # some formula has no calculated value stored
    sheet_path: str
    sheet_name: str = ""
    sheets: list[str] = field(default_factory=list)  # the visible worksheets
    header_row: int = 1
    unknown: list[str] = field(default_factory=list)  # headers ignored
    data_rows: int | None = 0  # rows below the header that hold a value (blank or merely formatted ones are not)
    missing: list[str] = field(default_factory=list)  # required columns not mapped yet (lenient only)
    header_problem: str | None = None  # why the mapping cannot be imported as it is (lenient only)


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


UPLOAD_TOKEN = re.compile(r"^[0-9a-f]{32}$")
PREVIEW_ROWS = 5


def check_upload(source: Path, filename: str) -> SheetInfo:
    """The checks of a fresh upload before its preview (column problems shown there); a refusal deletes it."""
    try:
        check_extension(filename)
        limit = setting("CRM_UPLOAD_MAX_BYTES")
        if source.stat().st_size > limit:
            raise too_large(limit)
        return inspect_workbook(source, ignore_unknown=True, lenient=True)
    except BaseException:
        source.unlink(missing_ok=True)
        raise


def upload_token(path: Path) -> str:
    """The token naming a stored upload awaiting its preview."""
    return path.stem.removeprefix("upload-")


def upload_path(token: str) -> Path | None:
    """The stored upload of a token, or None when the token is malformed or the file is gone."""
    if not UPLOAD_TOKEN.match(token or ""):
        return None
    path = import_dir() / f"upload-{token}.xlsx"
    return path if path.exists() else None


def preview_rows(path: Path, info: SheetInfo, count: int = PREVIEW_ROWS) -> list[tuple[int, tuple]]:
    """(row number, cells) of the first rows below the header that hold a value, as the job will read them."""
    workbook, worksheet, _names = open_sheet(path, info.sheet_name)
    found = []
    try:
        rows = iter_values(path, worksheet, min_row=info.header_row + 1, max_row=info.last_row,
                           max_col=len(info.headers))
        for number, row in enumerate(rows, start=info.header_row + 1):
            if holds_value(row) and not is_example_row(info.keys, row):
                found.append((number, tuple(row)))
                if len(found) >= count:
                    break
    finally:
        workbook.close()
    return found


def holds_value(row: tuple) -> bool:
    """Whether a row has a cell that is not blank (spaces are blank), as the row count and the job see it."""
    for value in row:  # not crm.sales.leads.fields.is_blank, inlined: called for every cell of an import
        if value is not None and (not isinstance(value, str) or value.strip()):
            return True
    return False


def create_job(source: Path, filename: str, actor_id: int | None, *, keep_source: bool = False,
               sheet: str | None = None, header_row: int | None = None, mapping: list[str | None] | None = None,
               ignore_unknown: bool = False):
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
        info = inspect_workbook(source, sheet=sheet, header_row=header_row, mapping=mapping,
                                ignore_unknown=ignore_unknown)
    except BaseException:
        if not keep_source:
            source.unlink(missing_ok=True)
        raise
    job = ImportJob(created_by_id=actor_id, filename=Path(filename).name[:255], stored_path="",
                    status="queued", total_rows=info.data_rows, sheet_name=info.sheet_name,
                    header_row=info.header_row, column_keys=json.dumps(info.keys))
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


def job_choices(job) -> dict:
    """A job's stored file and the preview's choices, as plain values for `job_workbook`."""
    return {"path": Path(job.stored_path), "sheet": job.sheet_name, "header_row": job.header_row,
            "mapping": json.loads(job.column_keys) if job.column_keys else None}


def job_workbook(choices: dict) -> SheetInfo:
    """The checks of a job's stored file with the choices the job was created with (its rows counted then)."""
    return inspect_workbook(choices["path"], sheet=choices["sheet"], header_row=choices["header_row"],
                            mapping=choices["mapping"], count_rows=False)
