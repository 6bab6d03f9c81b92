"""Excel lead import (S-9): columns, template, upload checks, row validation, error workbook.

The background job that uses these lives in `crm.sales.imports.tasks`.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.datavalidation import DataValidation

from crm.core import uow
from crm.core.errors import DomainError
from crm.extensions import db
from crm.org.models import Course
from crm.sales import choices

RATIO_CHECK_MIN_BYTES = 1024 * 1024  # tiny members compress extremely well and are harmless
MAX_ARCHIVE_MEMBERS = 10_000
COURSE_SEPARATORS = re.compile(r"[;；\n]")
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
WHOLE_FLOAT_TEXT = re.compile(r"^\d+\.0+$")
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # category Cc except tab/CR/LF
REASON_HEADER = "原因/reason"
ROW_HEADER = "行号/row"


def setting(name: str) -> int:
    """An integer import setting (crm/config.py reads them from the environment)."""
    return int(current_app.config[name])


@dataclass(frozen=True)
class Column:
    """One column of the import template."""

    key: str
    zh: str
    en: str
    required: bool
    kind: str  # qq, text, choice, phone, email, courses, date, referrer
    choices: dict | None = None
    choices_en: dict | None = None
    max_length: int | None = None
    note: str = ""

    @property
    def header(self) -> str:
        """The Chinese header as written in the template (required ones end with '*')."""
        return self.zh + ("*" if self.required else "")


COLUMNS: tuple[Column, ...] = (
    Column("qq", "QQ", "QQ", True, "qq", note="5–12 位数字，请按文本填写 / 5–12 digits, typed as text"),
    Column("name", "姓名", "Name", True, "text", max_length=32),
    Column("gender", "性别", "Gender", True, "choice", choices.GENDER, choices.GENDER_EN),
    Column("source", "客户来源", "Source", True, "choice", choices.SOURCE, choices.SOURCE_EN),
    Column("phone", "手机", "Phone", False, "phone", note="可选；填写后用于查重 / optional; used to find duplicates"),
    Column("email", "邮箱", "E-mail", False, "email", note="可选；填写后用于查重 / optional; used to find duplicates"),
    Column("courses", "咨询课程", "Courses", False, "courses",
           note="多个课程用分号分隔：课程1;课程2 / several courses separated by ';'"),
    Column("education", "学历", "Education", False, "choice", choices.EDUCATION, choices.EDUCATION_EN),
    Column("graduation_school", "毕业学校", "Graduation school", False, "text", max_length=64),
    Column("major", "专业", "Major", False, "text", max_length=64),
    Column("experience", "工作经验", "Experience", False, "choice", choices.EXPERIENCE, choices.EXPERIENCE_EN),
    Column("work_status", "职业状态", "Work status", False, "choice", choices.WORK_STATUS, choices.WORK_STATUS_EN),
    Column("company", "目前就职公司", "Company", False, "text", max_length=64),
    Column("salary", "当前薪资", "Salary", False, "text", max_length=32),
    Column("referrer_qq", "转介绍人QQ", "Referred by (QQ)", False, "referrer",
           note="已有客户或本文件前面行的 QQ / QQ of an existing lead or of an earlier row"),
    Column("inquiry_date", "咨询日期", "Inquiry date", False, "date",
           note="YYYY-MM-DD；空白表示今天 / blank means today"),
    Column("memo", "备注", "Memo", False, "text", max_length=2000),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
REQUIRED_KEYS = tuple(column.key for column in COLUMNS if column.required)
# Columns of our own error workbook, ignored on upload so a corrected error file can be re-imported.
IGNORED_HEADERS = {REASON_HEADER.casefold(), ROW_HEADER.casefold()}


def _header_lookup() -> dict[str, str]:
    lookup = {}
    for column in COLUMNS:
        for name in (column.zh, column.en, column.key):
            lookup[name.casefold()] = column.key
    return lookup


HEADER_LOOKUP = _header_lookup()


def clean_header(raw: object) -> str:
    """A header cell as compared: trimmed, required marker dropped, case folded."""
    text = "" if raw is None else str(raw)
    text = text.strip().rstrip("*＊").strip()
    return text.casefold()


def match_headers(header_row: tuple) -> list[str | None]:
    """Map each column of the header row to a column key (None: ignored); refuse bad headers."""
    keys: list[str | None] = []
    unknown, repeated = [], []
    for raw in header_row:
        cleaned = clean_header(raw)
        if not cleaned or cleaned in IGNORED_HEADERS:
            keys.append(None)
            continue
        key = HEADER_LOOKUP.get(cleaned)
        if key is None:
            unknown.append(str(raw).strip())
        elif key in keys:
            repeated.append(str(raw).strip())
        keys.append(key)
    missing = [COLUMNS_BY_KEY[key].header for key in REQUIRED_KEYS if key not in keys]
    problems = []
    if unknown:
        problems.append(_("Unknown columns: %(names)s.", names=", ".join(unknown)))
    if repeated:
        problems.append(_("Columns given twice: %(names)s.", names=", ".join(repeated)))
    if missing:
        problems.append(_("Missing required columns: %(names)s.", names=", ".join(missing)))
    if problems:
        problems.append(_("Download the template to see the expected headers."))
        raise DomainError(" ".join(problems), field="file")
    return keys


# ---------------------------------------------------------------------------
# Template


def build_template() -> bytes:
    """The import template: data sheet with drop-downs and an example row, plus an explanation sheet."""
    course_names = list(db.session.scalars(sa.select(Course.name).order_by(Course.name)))
    wb = Workbook()
    ws = wb.active
    ws.title = "客户 Leads"
    head_font = Font(bold=True, color="FFFFFF")
    required_fill = PatternFill("solid", fgColor="C0392B")
    optional_fill = PatternFill("solid", fgColor="34495E")
    last_row = setting("CRM_IMPORT_MAX_ROWS") + 1
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=index, value=column.header)
        cell.font = head_font
        cell.fill = required_fill if column.required else optional_fill
        cell.alignment = Alignment(horizontal="center")
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = max(12, len(column.en) + 4)
        if column.kind == "choice":
            options = ",".join(column.choices.values())
            validation = DataValidation(
                type="list", formula1=f'"{options}"', allow_blank=not column.required, showErrorMessage=True,
                errorTitle=column.zh, error="请从下拉列表中选择 / choose a value from the list",
            )
            validation.add(f"{letter}2:{letter}{last_row}")
            ws.add_data_validation(validation)
    example = {
        "qq": "123456789", "name": "张三", "gender": "男", "source": "官方网站", "phone": "13800138000",
        "email": "zhangsan@example.com", "courses": ";".join(course_names[:2]) or "课程1;课程2",
        "education": "普通本科", "graduation_school": "示例大学", "major": "计算机科学与技术",
        "experience": "一年至三年", "work_status": "在职", "company": "示例科技有限公司", "salary": "8000",
        "referrer_qq": "", "inquiry_date": "", "memo": "示例行，导入前请删除 / example row, delete before importing",
    }
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=2, column=index, value=example[column.key] or None)
        if column.kind in ("qq", "referrer", "phone"):
            cell.number_format = "@"  # keep long digit strings as text
    ws.freeze_panes = "A2"

    notes = wb.create_sheet("说明 Columns")
    notes.append(["列名", "Column", "必填 / Required", "允许的值 / Allowed values", "说明 / Notes"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        if column.kind == "choice":
            allowed = "、".join(column.choices.values()) + " / " + ", ".join(column.choices_en.values())
        elif column.kind == "courses":
            allowed = "; ".join(course_names) or "(尚无课程 / no courses yet)"
        elif column.kind in ("qq", "referrer"):
            allowed = "5–12 位数字 / 5–12 digits"
        elif column.kind == "date":
            allowed = "日期 / date"
        elif column.max_length:
            allowed = f"最多 {column.max_length} 字 / at most {column.max_length} characters"
        else:
            allowed = ""
        notes.append([column.header, column.en, "是 / yes" if column.required else "否 / no", allowed, column.note])
    notes.append([])
    notes.append(["选项列也接受英文名称或数字代码 / choice columns also accept the English label or the code"])
    notes.append(["空白行会被跳过 / blank rows are skipped"])
    for letter, width in zip("ABCDE", (14, 20, 16, 60, 50)):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Upload checks


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


def refuse(message: str) -> DomainError:
    """A refusal of the uploaded file."""
    return DomainError(message, field="file")


def check_extension(filename: str) -> None:
    """Only .xlsx names are accepted."""
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xlsx":
        return
    if suffix == ".xls":
        raise refuse(_("Old Excel 97-2003 (.xls) files cannot be imported; save the file as .xlsx first."))
    raise refuse(_("Only Excel .xlsx workbooks can be imported; this file is %(kind)s.",
                   kind=suffix or _("without an extension")))


def _refuse_not_zip(head: bytes) -> DomainError:
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return refuse(_("This is an old Excel 97-2003 (.xls) or a password-protected workbook renamed to "
                        ".xlsx; save it as a normal .xlsx workbook first."))
    # Text (CSV in UTF-8 or GBK alike) has no control bytes besides tab and line breaks.
    controls = sum(1 for byte in head if byte < 0x20 and byte not in (9, 10, 13) or byte == 0x7F)
    if head.strip() and controls == 0:
        return refuse(_("This is a text file (for example CSV) renamed to .xlsx; open it in Excel and save "
                        "it as an .xlsx workbook."))
    return refuse(_("This file is not an Excel .xlsx workbook."))


def check_archive(path: Path) -> None:
    """Refuse files that are not a sound .xlsx zip archive, and zip bombs, before parsing."""
    size = path.stat().st_size
    if size == 0:
        raise refuse(_("The file is empty."))
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head.startswith(b"PK\x03\x04"):
        raise _refuse_not_zip(head)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise refuse(_("The file is damaged or incomplete; it cannot be read as an .xlsx workbook.")) from None
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise refuse(_("The workbook has too many parts to be a normal spreadsheet."))
    total = sum(member.file_size for member in members)
    limit = setting("CRM_IMPORT_MAX_UNCOMPRESSED_BYTES")
    max_ratio = setting("CRM_IMPORT_MAX_RATIO")
    suspicious = any(
        member.file_size > RATIO_CHECK_MIN_BYTES and member.file_size > max_ratio * max(member.compress_size, 1)
        for member in members
    )
    if total > limit or suspicious:
        raise refuse(_("The workbook expands to far more data than a normal spreadsheet (a \"zip bomb\"); "
                       "it was not opened."))
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        raise refuse(_("This is a zip archive but not an Excel workbook."))


ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
ROW_NUMBER = re.compile(rb"\br=\"(\d+)\"")
FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def scan_sheet(archive_path: Path, sheet_path: str) -> tuple[int, bool]:
    """Stream the sheet XML once: the last row number and whether any cell holds a formula.

    zipfile stops at each member's declared size, which check_archive has bounded,
    so this reads at most CRM_IMPORT_MAX_UNCOMPRESSED_BYTES.
    """
    last_row = 0
    has_formulas = False
    tail = b""
    with zipfile.ZipFile(archive_path) as archive, archive.open(sheet_path.lstrip("/")) as source:
        while True:
            chunk = source.read(1 << 20)
            if not chunk:
                break
            data = tail + chunk
            # Keep an unfinished tag for the next round so no tag is split.
            cut = data.rfind(b"<")
            if cut == -1 or data.find(b">", cut) != -1:
                cut = len(data)
            body, tail = data[:cut], data[cut:]
            for match in ROW_TAG.finditer(body):
                number = ROW_NUMBER.search(match.group(1))
                last_row = int(number.group(1)) if number else last_row + 1
            if not has_formulas and FORMULA_TAG.search(body):
                has_formulas = True
    return last_row, has_formulas


class SizedReadOnlyWorksheet(ReadOnlyWorksheet):
    """A read-only sheet that skips openpyxl's size probe.

    openpyxl looks for a <dimension> element when it opens a sheet; when a writer omits it
    (openpyxl's own write-only mode does) it parses the whole sheet just to find out. We
    count rows with scan_sheet instead and always pass max_row/max_col to iter_rows.
    """

    def _get_size(self):
        return None


def open_first_sheet(path: Path, *, data_only: bool = True):
    """(workbook, first worksheet or None) in read-only mode, without parsing the sheet up front."""
    reader = ExcelReader(str(path), read_only=True, data_only=data_only)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)  # number formats: which numbers are dates
    for sheet, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return reader.wb, SizedReadOnlyWorksheet(reader.wb, sheet.name, rel.target, reader.shared_strings)
    return reader.wb, None


def inspect_workbook(path: Path) -> SheetInfo:
    """All upload checks on a stored file: archive, row limit, readability, headers."""
    check_archive(path)
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


# ---------------------------------------------------------------------------
# Row validation


class RowInvalid(Exception):
    """A row that cannot be imported; the message is the reason shown to the user."""


def _label(key: str) -> str:
    column = COLUMNS_BY_KEY[key]
    return f"{column.zh} ({column.en})"


def is_blank(value: object) -> bool:
    """True for an empty cell (None or only whitespace)."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def plain_text(value: object) -> str:
    """A cell as text: whole numbers without '.0', dates as ISO."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def digits_text(key: str, value: object) -> str:
    """A QQ-like cell as a digit string: text or number; 123456.0 is 123456; 1.2E+8 is refused."""
    if isinstance(value, bool) or isinstance(value, (dt.date, dt.datetime)):
        raise RowInvalid(_("%(column)s must be digits, not %(value)s.", column=_label(key), value=plain_text(value)))
    if isinstance(value, float):
        if not value.is_integer():
            raise RowInvalid(_("%(column)s must be whole digits, not %(value)s.", column=_label(key), value=value))
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if SCIENTIFIC.match(text):
        raise RowInvalid(_("%(column)s %(value)s is in scientific notation, which loses digits; format the "
                           "column as text and type the full number.", column=_label(key), value=text))
    if WHOLE_FLOAT_TEXT.match(text):
        text = text.split(".", 1)[0]
    return text


def _choice_lookup() -> dict[str, dict[str, int]]:
    lookup = {}
    for column in COLUMNS:
        if column.kind == "choice":
            names = {}
            for code, label in column.choices.items():
                names[str(code)] = names[label.casefold()] = names[column.choices_en[code].casefold()] = code
            lookup[column.key] = names
    return lookup


CHOICE_LOOKUP = _choice_lookup()


def parse_choice(key: str, value: object) -> int:
    """A choice cell by Chinese label, English label or numeric code."""
    column = COLUMNS_BY_KEY[key]
    if isinstance(value, bool):
        value = plain_text(value)
    if isinstance(value, (int, float)) and float(value).is_integer() and int(value) in column.choices:
        return int(value)
    text = plain_text(value)
    code = CHOICE_LOOKUP[key].get(text.casefold())
    if code is not None:
        return code
    raise RowInvalid(_("%(column)s: \"%(value)s\" is not one of the allowed values (%(allowed)s).",
                       column=_label(key), value=text, allowed="、".join(column.choices.values())))


def parse_date(key: str, value: object, today: dt.date) -> dt.date:
    """A date cell: a real date or text YYYY-MM-DD (also YYYY/MM/DD), not in the future (as single entry)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        text = plain_text(value)
        for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"):
            try:
                value = dt.datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        else:
            raise RowInvalid(_("%(column)s: \"%(value)s\" is not a date (write it as YYYY-MM-DD).",
                               column=_label(key), value=text))
    if value > today:
        raise RowInvalid(_("%(column)s %(value)s is in the future.", column=_label(key), value=value.isoformat()))
    if value < dt.date(2000, 1, 1):
        raise RowInvalid(_("%(column)s %(value)s is too far in the past.", column=_label(key),
                           value=value.isoformat()))
    return value


class RowParser:
    """Turns the cells of one row into Customer values, or raises RowInvalid."""

    def __init__(self, keys: list[str | None], today: dt.date):
        from crm.sales.leads import intake  # ALLOC's normalisers: one definition of a valid QQ/phone/e-mail

        self.intake = intake
        self.keys = keys
        self.today = today
        self.courses = {name.casefold(): (course_id, name) for course_id, name in
                        db.session.execute(sa.select(Course.id, Course.name))}

    def parse(self, values: tuple, formula_columns: set[int] = frozenset()) -> dict:
        """Validated values of a row (keys of COLUMNS plus course_ids)."""
        raw: dict[str, object] = {}
        for index, key in enumerate(self.keys):
            if key is None:
                continue
            if index in formula_columns:
                raise RowInvalid(_("%(column)s holds a formula without a calculated value; open the file in "
                                   "Excel, save it, and upload it again (or paste the values).",
                                   column=_label(key)))
            value = values[index] if index < len(values) else None
            raw[key] = None if is_blank(value) else value
        for key in REQUIRED_KEYS:
            if raw.get(key) is None:
                raise RowInvalid(_("%(column)s is required.", column=_label(key)))
        record: dict[str, object] = {}
        for column in COLUMNS:
            value = raw.get(column.key)
            if value is None:
                record[column.key] = None
                continue
            record[column.key] = self._parse_value(column, value)
        record["course_ids"] = record.pop("courses") or []
        record["inquiry_date"] = record["inquiry_date"] or self.today
        return record

    def identity(self, values: tuple) -> dict[str, str]:
        """The normalised QQ / phone / e-mail of a row, skipping any that do not parse."""
        found = {}
        for index, key in enumerate(self.keys):
            if key in ("qq", "phone", "email") and index < len(values) and not is_blank(values[index]):
                try:
                    found[key] = self._parse_value(COLUMNS_BY_KEY[key], values[index])
                except RowInvalid:
                    continue
        return found

    def _parse_value(self, column: Column, value: object):
        kind = column.kind
        if kind == "text":
            text = plain_text(value)
            if len(text) > column.max_length:
                raise RowInvalid(_("%(column)s is longer than %(max)s characters.",
                                   column=_label(column.key), max=column.max_length))
            if CONTROL_CHARACTERS.search(text):
                raise RowInvalid(_("%(column)s contains control characters.", column=_label(column.key)))
            return text
        if kind == "choice":
            return parse_choice(column.key, value)
        if kind == "date":
            return parse_date(column.key, value, self.today)
        if kind == "courses":
            return self._parse_courses(value)
        try:
            if kind in ("qq", "referrer"):
                return self.intake.normalise_qq(digits_text(column.key, value))
            if kind == "phone":
                return self.intake.normalise_phone(digits_text(column.key, value))
            if kind == "email":
                return self.intake.normalise_email(plain_text(value))
        except DomainError as error:
            raise RowInvalid(f"{_label(column.key)}: {error.message}") from None
        raise AssertionError(f"unknown column kind {kind}")

    def _parse_courses(self, value: object) -> list[int]:
        names = [part.strip() for part in COURSE_SEPARATORS.split(plain_text(value)) if part.strip()]
        found, unknown = [], []
        for name in names:
            match = self.courses.get(name.casefold())
            if match is None:
                unknown.append(name)
            elif match[0] not in found:
                found.append(match[0])
        if unknown:
            raise RowInvalid(_("Unknown courses: %(names)s (the valid names are listed on the template's "
                               "explanation sheet).", names=", ".join(unknown)))
        return found


def json_values(values: tuple, width: int) -> str:
    """The original cells of a row as JSON (dates as ISO text), padded to the header width."""
    cells = list(values[:width]) + [None] * max(0, width - len(values))
    out = []
    for value in cells:
        if isinstance(value, (dt.date, dt.datetime, dt.time)):
            value = value.isoformat()
        elif isinstance(value, float) and not (value == value and abs(value) != float("inf")):
            value = str(value)  # NaN/inf are not JSON
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        out.append(value)
    return json.dumps(out, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Error workbook


def _as_text_cell(sheet, value):
    """Text that starts with '=' would be written as a live formula; keep it as plain text."""
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


def write_error_workbook(job_id: int, headers: list[str], target: Path) -> int:
    """Write every rejected row of a job (original values + reason) with openpyxl write_only."""
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
        sheet.append([_as_text_cell(sheet, value) for value in cells] + [reason, row_number])
        count += 1
    tmp = target.with_suffix(".tmp")
    workbook.save(tmp)
    tmp.replace(target)
    return count
