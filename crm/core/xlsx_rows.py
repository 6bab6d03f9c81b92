"""Rows of a worksheet opened by `crm.core.xlsx.open_sheet`, read fast: the values only.

Two readers yield the same rows: `iter_values`, a lean single pass over the sheet XML
(streamed, any size), and `iter_values_fast`, python-calamine's compiled reader (the whole
sheet in memory, for sheets that `fast_reader_fits`). Both leave the row window (gaps as empty
rows, nothing before `min_row` or past `max_row`) to one helper. `iter_values_soon` is the fast
reader whose first rows are streamed by the lean one while the sheet loads.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from xml.etree.ElementTree import iterparse

from openpyxl.utils.datetime import from_excel, from_ISO8601

from crm.core.xlsx import _string_item, _tag_is, decode_escapes

log = logging.getLogger(__name__)


def _windowed(rows: Iterable[tuple[int, object]], convert: Callable[[object], tuple], *, min_row: int,
              max_row: int | None, width: int | None) -> Iterator[tuple]:
    """(row number, raw row) pairs in order → converted rows min_row..max_row, missing rows as empty ones."""
    empty = (None,) * (width or 0)
    expected = min_row
    for number, raw in rows:
        if number < min_row:
            continue
        if max_row is not None and number > max_row:
            break
        while expected < number:
            yield empty
            expected += 1
        yield convert(raw)
        expected = number + 1
    while max_row is not None and expected <= max_row:
        yield empty
        expected += 1


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


def _row_elements(source) -> Iterator[tuple[int, object]]:
    """(row number, <row> element) of a sheet's XML; each element is cleared once its row was read."""
    number = 0
    for _event, element in iterparse(source, events=("end",)):
        tag = element.tag
        if not tag.endswith("}row") and tag != "row":
            continue
        ref = element.get("r")
        number = int(ref) if ref else number + 1
        yield number, element
        element.clear()


def iter_values(archive_path: Path, sheet, *, min_row: int, max_row: int | None, max_col: int | None,
                like_fast: bool = False):
    """Cell values of rows min_row..max_row (every row, padded to max_col), as openpyxl's read-only values_only gives.

    A lean single pass over the sheet XML: shared and inline strings (Excel's `_xHHHH_` escapes
    decoded), numbers, booleans, errors, formula results and dates (by the workbook's date
    styles, the zh-CN built-ins included). `sheet` is a worksheet from `open_sheet`
    (data_only=True). With `max_col` None, each row is as long as its last cell; with `max_row`
    None, rows up to the last one written. `like_fast`: error cells and empty text blank, as
    `iter_values_fast` reads them.
    """
    strings = sheet._shared_strings
    dates = sheet.parent._date_formats
    epoch = sheet.parent.epoch

    def convert(element) -> tuple:
        values = [None] * max_col if max_col else []
        column = 0
        for cell in element:
            ref = cell.get("r")
            column = _column_number(ref) if ref else column + 1
            if max_col and column > max_col:
                continue
            kind = cell.get("t", "n")
            value = None
            if kind == "inlineStr":
                value = next((_string_item(child) for child in cell if _tag_is(child.tag, "is")), None)
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
                    elif kind == "str":  # a formula's text result
                        value = decode_escapes(raw)
                    else:  # e: an error such as #N/A
                        value = None if like_fast else raw
            if like_fast and value == "":
                value = None
            if not max_col and value is not None:
                values.extend([None] * (column - len(values)))
                values[column - 1] = value
            elif max_col:
                values[column - 1] = value
        return tuple(values)

    with zipfile.ZipFile(archive_path) as archive, archive.open(sheet._worksheet_path.lstrip("/")) as source:
        yield from _windowed(_row_elements(source), convert, min_row=min_row, max_row=max_row, width=max_col)


# Past this size of a sheet's XML (plus its shared strings), rows are streamed instead: the fast
# reader holds the whole sheet in memory (about its XML size), which must stay inside the worker's budget.
FAST_READER_MAX_BYTES = 100 * 1024 * 1024


def fast_reader_fits(archive_path: Path, sheet) -> bool:
    """Whether the sheet is small enough for `iter_values_fast` (a whole-sheet reader)."""
    parts = {sheet._worksheet_path.lstrip("/"), "xl/sharedStrings.xml"}
    with zipfile.ZipFile(archive_path) as archive:
        size = sum(member.file_size for member in archive.infolist() if member.filename in parts)
    return size <= FAST_READER_MAX_BYTES


def iter_values_fast(archive_path: Path, sheet, *, min_row: int, max_row: int | None, max_col: int):
    """What `iter_values` yields, read by python-calamine (a compiled reader, several times faster).

    Its cells are made to look like ours: blanks as None, dates as datetimes, whole numbers as
    int. Error cells come back blank. Use it only when `fast_reader_fits`.
    """
    from python_calamine import CalamineWorkbook

    with CalamineWorkbook.from_path(str(archive_path)) as workbook:
        data = workbook.get_sheet_by_name(sheet.title)
        yield from _calamine_rows(data, min_row=min_row, max_row=max_row, max_col=max_col)


def _calamine_rows(data, *, min_row: int, max_row: int | None, max_col: int) -> Iterator[tuple]:
    """The rows of a sheet python-calamine has read, converted and windowed as `iter_values_fast` gives them."""
    top, left = data.start or (0, 0)
    date, datetime, midnight = dt.date, dt.datetime, dt.time()

    def convert(cells) -> tuple:
        values = [None] * left + cells[:max_col - left] if left else cells[:max_col]
        for index, value in enumerate(values):
            kind = value.__class__  # calamine gives exactly str, float, int, bool, date, datetime, time, timedelta
            if kind is str:
                if not value:
                    values[index] = None
            elif kind is float:
                if value.is_integer() and abs(value) < 1e16:
                    values[index] = int(value)
            elif kind is date:
                values[index] = datetime.combine(value, midnight)
        values.extend([None] * (max_col - len(values)))
        return tuple(values)

    numbered = enumerate(data.iter_rows(), start=top + 1)
    yield from _windowed(numbered, convert, min_row=min_row, max_row=max_row, width=max_col)


def _load_calamine(archive_path: Path, title: str, into: dict) -> None:
    """Read a sheet with python-calamine into `into` (workbook, data) or its exception (error)."""
    try:
        from python_calamine import CalamineWorkbook

        into["workbook"] = CalamineWorkbook.from_path(str(archive_path))
        into["data"] = into["workbook"].get_sheet_by_name(title)
    except BaseException as error:  # noqa: BLE001 - raised again by the reader's caller
        into["error"] = error


def iter_values_soon(archive_path: Path, sheet, *, min_row: int, max_row: int | None, max_col: int):
    """What `iter_values_fast` yields, the first rows without waiting for the whole sheet.

    python-calamine reads the whole sheet before its first row (about a second for 100,000
    rows) and lets go of the interpreter lock while it does: it reads in a thread, and
    meanwhile `iter_values` streams the first rows. Once the sheet is read, the rows go on
    from there out of it. Both readers give the same rows, so where the switch falls does not
    matter; if the compiled reader fails, the lean one reads to the end. Use it only when
    `fast_reader_fits`.
    """
    loaded: dict = {}
    loader = threading.Thread(target=_load_calamine, args=(archive_path, sheet.title, loaded),
                              name="xlsx-calamine", daemon=True)
    loader.start()
    try:
        number = min_row
        streamed = iter_values(archive_path, sheet, min_row=min_row, max_row=max_row, max_col=max_col,
                               like_fast=True)
        with closing(streamed):
            for row in streamed:
                yield row
                number += 1
                if not loader.is_alive():
                    break
            else:
                return  # streamed to the end before the sheet was read
        loader.join()
        error = loaded.get("error")
        if error is None:
            yield from _calamine_rows(loaded["data"], min_row=number, max_row=max_row, max_col=max_col)
        elif isinstance(error, Exception):  # a sheet the compiled reader cannot read: the lean one reads on
            log.warning("python-calamine could not read %s (%s); the rows from %s on are streamed",
                        archive_path, error, number)
            yield from iter_values(archive_path, sheet, min_row=number, max_row=max_row, max_col=max_col,
                                   like_fast=True)
        else:
            raise error
    finally:
        loader.join()  # stopped early or streamed to the end: the workbook is closed once it is read
        if "workbook" in loaded:
            loaded["workbook"].close()
