"""An uploaded .xlsx, checked before anything parses it, and its sheet opened cheaply.

Shared by every workbook upload (the lead import today): the name must say .xlsx; the
file must be a zip archive whose directory (read without unpacking anything) is small
enough and not a "zip bomb"; old .xls, password-protected and renamed text files get
their own messages. `scan_sheet` streams a sheet's XML once for its row count and
formulas; `open_sheet` opens the active visible worksheet (or a named visible one) read-only,
without openpyxl's whole-sheet size probe; hidden sheets are never read. Refusals are
DomainErrors on the form's `file` field.
"""
from __future__ import annotations

import re
import zipfile
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import iterparse

from flask_babel import gettext as _
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.xml.constants import SHARED_STRINGS

from crm.core.errors import DomainError

RATIO_CHECK_MIN_BYTES = 1024 * 1024  # tiny members compress extremely well and are harmless
MAX_ARCHIVE_MEMBERS = 10_000


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


def check_archive(path: Path, *, max_uncompressed: int, max_ratio: int) -> None:
    """Refuse files that are not a sound .xlsx zip archive, and zip bombs, before parsing.

    The zip directory is read, never a member: `max_uncompressed` bounds the unpacked size of
    the whole archive, `max_ratio` the compression ratio of any member past 1 MB.
    """
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
    limit = max_uncompressed
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


STRICT_NAMESPACE = b"purl.oclc.org/ooxml/spreadsheetml"
# Built-in number formats of the Chinese (zh-CN) Excel that are dates or times but carry no format
# code in the file (openpyxl knows only the international built-ins).
CJK_DATE_FORMAT_IDS = frozenset(range(27, 37)) | frozenset(range(50, 59))

EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_escapes(text: str) -> str:
    """Excel's `_xHHHH_` escapes, decoded once: `_x000D_` is a carriage return, `_x005F_x000D_` the text `_x000D_`.

    Excel writes a literal `_x000D_` as `_x005F_x000D_` (the underscore escaped); decoding left to right in
    one pass turns `_x005F_` into "_" and leaves the rest as written.
    """
    if "_x" not in text:
        return text
    return EXCEL_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def _tag_is(tag: str, name: str) -> bool:
    return tag == name or tag.endswith("}" + name)


def _string_item(node) -> str:
    """A shared or inline string's text: its <t>, or its rich-text runs' <t>s (phonetic <rPh> runs are not shown)."""
    parts = []
    for child in node:
        if _tag_is(child.tag, "t"):
            parts.append(child.text or "")
        elif _tag_is(child.tag, "r"):
            parts.extend(text.text or "" for text in child if _tag_is(text.tag, "t"))
    return decode_escapes("".join(parts))


def read_shared_strings(archive: zipfile.ZipFile, part: str) -> list[str]:
    """The shared string table, each string with Excel's escapes decoded exactly once."""
    strings = []
    with archive.open(part) as source:
        for _event, node in iterparse(source, events=("end",)):
            if _tag_is(node.tag, "si"):
                strings.append(_string_item(node))
                node.clear()
    return strings


ROW_START = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
ROW_CLOSE = re.compile(rb"</(?:\w+:)?row>")
SCAN_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
SCAN_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</")
SCAN_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
SCAN_TAGS = re.compile(rb"<[^>]*>")
SCAN_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
ROW_NUMBER = re.compile(rb"\br=\"(\d+)\"")
CELL_TYPE = re.compile(rb"\bt=\"(\w+)\"")


@dataclass
class SheetScan:
    """What one streamed pass over a sheet's XML learned."""

    value_rows: array  # row numbers (ascending) of the rows with at least one non-blank cell
    formulas: bool = False  # some cell holds a formula
    uncached_formulas: bool = False  # some formula has no calculated value stored (read as blank otherwise)
    counted: bool = True  # value_rows were collected

    @property
    def last_row(self) -> int:
        """The last row that holds a value (0 for an empty sheet)."""
        return self.value_rows[-1] if self.value_rows else 0

    def rows_after(self, row: int) -> int:
        """How many rows below `row` hold a value."""
        return len(self.value_rows) - bisect_right(self.value_rows, row)


def _cell_holds_value(attributes: bytes, content: bytes | None, blank_strings: set[int], scan: SheetScan) -> bool:
    if not content:
        return False
    kind = CELL_TYPE.search(attributes)
    kind = kind.group(1) if kind else b"n"
    value = SCAN_VALUE.search(content)
    if SCAN_FORMULA.search(content):
        scan.formulas = True
        if value is None or not value.group(1):
            scan.uncached_formulas = True
            return True  # read as a formula without a value: reported, so it counts
    if kind == b"inlineStr":
        text = SCAN_TAGS.sub(b"", SCAN_PHONETIC.sub(b"", content))
        return bool(text.strip())
    if value is None or not value.group(1):
        return False
    if kind == b"s":
        return int(value.group(1)) not in blank_strings
    if kind == b"str":
        return bool(value.group(1).strip())
    return True


def _row_holds_value(content: bytes, blank_strings: set[int], scan: SheetScan, formulas: bool) -> bool:
    cells = (_cell_holds_value(cell.group(1), cell.group(2), blank_strings, scan)
             for cell in SCAN_CELL.finditer(content))
    if formulas and SCAN_FORMULA.search(content):
        return any(list(cells))  # every cell looked at, so every formula is seen
    return any(cells)  # up to the first cell with a value


def _split_rows(body: bytes) -> list[bytes]:
    """`body` cut after each row's end tag (the last piece holds whatever follows the last row)."""
    if b":row>" not in body:
        return body.split(b"</row>")
    return ROW_CLOSE.split(body)


def _rows_end(data: bytes) -> int:
    """Where the last complete row of `data` ends (0: none yet)."""
    position = len(data)
    while (position := data.rfind(b"row>", 0, position)) != -1:
        start = data.rfind(b"<", 0, position)
        if start != -1 and ROW_CLOSE.fullmatch(data, start, position + 4):
            return position + 4
    return 0


def scan_sheet(archive_path: Path, sheet, *, count_rows: bool = True) -> SheetScan:
    """Stream the sheet XML once: which rows hold a non-blank value, and whether cells hold formulas.

    Rows that are merely formatted (LibreOffice writes an empty row 1,048,576 after a deleted
    row), empty cells and cells of spaces do not count. zipfile stops at each member's
    declared size, which check_archive has bounded, so this reads at most the unpacked limit.
    `sheet` is a worksheet from `open_sheet`. Without `count_rows` (a job whose rows were
    counted at upload) only formulas are looked for, and rows are counted only if there are any.
    """
    blank_strings = {index for index, text in enumerate(sheet._shared_strings) if not text.strip()}
    scan = SheetScan(array("I"))
    number = 0
    tail = b""
    with zipfile.ZipFile(archive_path) as archive, archive.open(sheet._worksheet_path.lstrip("/")) as source:
        while True:
            chunk = source.read(1 << 20)
            data = tail + chunk
            if chunk:
                # Whole rows only: cut after the last </row>; the rest waits for the next chunk.
                cut = _rows_end(data)
                body, tail = data[:cut], data[cut:]
            else:
                body, tail = data, b""
            formulas = SCAN_FORMULA.search(body) is not None
            if not count_rows:
                if formulas:
                    return scan_sheet(archive_path, sheet)
                if not chunk:
                    break
                continue
            for piece in _split_rows(body):
                # A piece: maybe empty <row .../> elements, then one row's start tag and its cells.
                if b"row" not in piece:
                    continue
                starts = list(ROW_START.finditer(piece))
                for start in starts:
                    found = ROW_NUMBER.search(start.group(1))
                    number = int(found.group(1)) if found else number + 1
                if not starts or starts[-1].group(1).endswith(b"/"):
                    continue
                if _row_holds_value(piece[starts[-1].end():], blank_strings, scan, formulas):
                    scan.value_rows.append(number)
            if not chunk:
                break
    scan.counted = count_rows
    return scan


class SizedReadOnlyWorksheet(ReadOnlyWorksheet):
    """A read-only sheet that skips openpyxl's size probe.

    openpyxl looks for a <dimension> element when it opens a sheet; when a writer omits it
    (openpyxl's own write-only mode does) it parses the whole sheet just to find out. We
    count rows with scan_sheet instead and always pass max_row/max_col to iter_rows.
    """

    def _get_size(self):
        return None


def _refuse_strict(path: Path) -> None:
    with zipfile.ZipFile(path) as archive, archive.open("xl/workbook.xml") as source:
        head = source.read(4096)
    if STRICT_NAMESPACE in head:
        raise refuse(_("This workbook is saved as \"Strict Open XML Spreadsheet\", which cannot be read. In "
                       "Excel choose File > Save As > \"Excel Workbook (*.xlsx)\" and upload that file."))


def open_sheet(path: Path, name: str | None = None, *, data_only: bool = True):
    """(workbook, worksheet or None, names of the visible worksheets), read-only, the sheet not parsed up front.

    Hidden sheets are never opened. Without `name`, the active sheet when it is a visible
    worksheet, else the first visible worksheet; a `name` that is not a visible worksheet is refused.
    """
    _refuse_strict(path)
    reader = ExcelReader(str(path), read_only=True, data_only=data_only)
    reader.read_manifest()
    strings_part = reader.package.find(SHARED_STRINGS)
    # Our own table: openpyxl's drops every "x005F_", which turns Excel's escaped "_x005F_x000D_" (the
    # text "_x000D_") into a line break once the escapes are decoded.
    reader.shared_strings = (read_shared_strings(reader.archive, strings_part.PartName[1:])
                             if strings_part is not None else [])
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)  # number formats: which numbers are dates
    for index, style in enumerate(reader.wb._cell_styles):
        if style.numFmtId in CJK_DATE_FORMAT_IDS:
            reader.wb._date_formats.add(index)
    active = reader.wb._active_sheet_index
    visible = []
    for position, (sheet, rel) in enumerate(reader.parser.find_sheets()):
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type and sheet.state in (None, "visible"):
            visible.append((position, sheet.name, rel.target))
    names = [sheet_name for _p, sheet_name, _t in visible]
    if name is not None:
        chosen = next((item for item in visible if item[1] == name), None)
        if chosen is None:
            reader.wb.close()
            raise refuse(_("The workbook has no visible sheet called \"%(name)s\".", name=name))
    else:
        chosen = next((item for item in visible if item[0] == active), visible[0] if visible else None)
    if chosen is None:
        return reader.wb, None, names
    return reader.wb, SizedReadOnlyWorksheet(reader.wb, chosen[1], chosen[2], reader.shared_strings), names
