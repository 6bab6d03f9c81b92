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
from pathlib import Path
from xml.etree.ElementTree import iterparse

from flask_babel import gettext as _
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

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


# A row start, or a cell's value / inline string / formula (an empty <v/> holds nothing).
SHEET_TOKEN = re.compile(rb"<(?:\w+:)?(?:(row)\b([^>]*)>|(v|is|f)[\s>])")
ROW_NUMBER = re.compile(rb"\br=\"(\d+)\"")
STRICT_NAMESPACE = b"purl.oclc.org/ooxml/spreadsheetml"
# Built-in number formats of the Chinese (zh-CN) Excel that are dates or times but carry no format
# code in the file (openpyxl knows only the international built-ins).
CJK_DATE_FORMAT_IDS = frozenset(range(27, 37)) | frozenset(range(50, 59))


def scan_sheet(archive_path: Path, sheet_path: str) -> tuple[int, bool]:
    """Stream the sheet XML once: the last row that holds a value, and whether any cell holds a formula.

    Rows that are merely formatted (LibreOffice writes an empty row 1,048,576 after a deleted
    row) do not count. zipfile stops at each member's declared size, which check_archive has
    bounded, so this reads at most the unpacked limit given there.
    """
    row = last_row = 0
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
            for match in SHEET_TOKEN.finditer(body):
                if match.group(1):
                    number = ROW_NUMBER.search(match.group(2))
                    row = int(number.group(1)) if number else row + 1
                    continue
                last_row = row
                if match.group(3) == b"f":
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
    reader.read_strings()
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


def _column_number(ref: str) -> int:
    number = 0
    for char in ref:
        if "A" <= char <= "Z":
            number = number * 26 + ord(char) - 64
        else:
            break
    return number


def _number(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


def iter_values(archive_path: Path, sheet, *, min_row: int, max_row: int, max_col: int):
    """Cell values of rows min_row..max_row (every row, padded to max_col), as openpyxl's read-only values_only gives.

    A lean single pass over the sheet XML for the import's hot path: shared and inline strings,
    numbers, booleans, errors, formula results and dates (by the workbook's date styles,
    the zh-CN built-ins included). `sheet` is a worksheet from `open_sheet` (data_only=True).
    """
    strings = sheet._shared_strings
    dates = sheet.parent._date_formats
    epoch = sheet.parent.epoch
    empty = (None,) * max_col
    expected = min_row
    number = 0
    with zipfile.ZipFile(archive_path) as archive, archive.open(sheet._worksheet_path.lstrip("/")) as source:
        for _event, element in iterparse(source, events=("end",)):
            tag = element.tag
            if not tag.endswith("}row") and tag != "row":
                continue
            ref = element.get("r")
            number = int(ref) if ref else number + 1
            if number < min_row:
                element.clear()
                continue
            if number > max_row:
                break
            while expected < number:
                yield empty
                expected += 1
            values = [None] * max_col
            column = 0
            for cell in element:
                ref = cell.get("r")
                column = _column_number(ref) if ref else column + 1
                if column > max_col:
                    continue
                kind = cell.get("t", "n")
                value = None
                if kind == "inlineStr":
                    value = _inline_text(cell)
                else:
                    raw = next((child.text for child in cell if child.tag.endswith("}v")), None)
                    if raw is not None:
                        if kind == "s":
                            value = strings[int(raw)]
                        elif kind == "n":
                            value = _number(raw)
                            style = cell.get("s")
                            if style is not None and int(style) in dates:
                                try:
                                    value = from_excel(value, epoch)
                                except (ValueError, OverflowError):
                                    pass
                        elif kind == "b":
                            value = bool(int(raw))
                        elif kind == "d":
                            value = from_ISO8601(raw)
                        else:  # str (a formula's text result) and e (an error such as #N/A)
                            value = raw
                values[column - 1] = value
            element.clear()
            yield tuple(values)
            expected = number + 1
    while expected <= max_row:
        yield empty
        expected += 1


def _inline_text(cell) -> str | None:
    """An inline string's text: its <t>, or its rich-text runs' <t>s (phonetic <rPh> runs are not shown)."""
    for child in cell:
        if child.tag.endswith("}is"):
            parts = []
            for node in child:
                if node.tag.endswith("}t"):
                    parts.append(node.text or "")
                elif node.tag.endswith("}r"):
                    parts.extend(text.text or "" for text in node if text.tag.endswith("}t"))
            return "".join(parts)
    return None
