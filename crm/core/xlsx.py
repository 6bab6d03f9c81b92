"""An uploaded .xlsx, checked before anything parses it, and its sheet opened cheaply.

Shared by every workbook upload (the lead import today): the name must say .xlsx; the
file must be a zip archive whose directory (read without unpacking anything) is small
enough and not a "zip bomb"; old .xls, password-protected and renamed text files get
their own messages. `scan_sheet` streams a sheet's XML once for its row count and
formulas; `open_first_sheet` opens the first worksheet read-only without openpyxl's
whole-sheet size probe. Refusals are DomainErrors on the form's `file` field.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from flask_babel import gettext as _
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
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


ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
ROW_NUMBER = re.compile(rb"\br=\"(\d+)\"")
FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def scan_sheet(archive_path: Path, sheet_path: str) -> tuple[int, bool]:
    """Stream the sheet XML once: the last row number and whether any cell holds a formula.

    zipfile stops at each member's declared size, which check_archive has bounded,
    so this reads at most the unpacked limit given there.
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
