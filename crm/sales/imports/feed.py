"""The import job's rows, read and parsed in batches.

`parsed_batches` reads the sheet, skips blank rows and the template's example row, and checks
each row on its own (crm.sales.imports.rows: pure Python, no database): the per-row work whose
result does not depend on other rows. Everything that depends on earlier batches having been
saved (the in-file duplicate index, the duplicate lookup, allocation, the claim on
`processed_rows`) stays with the runner (crm.sales.imports.runner), in row order.

(A thread parsing the next batch while the current one was saved gained nothing: it traded places
with the saving for the interpreter lock. crm.sales.imports.read_ahead runs this in a forked
process instead.)
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from crm.core.copy_text import copy_text
from crm.core.xlsx import decode_escapes, open_sheet
from crm.core.xlsx_rows import fast_reader_fits, iter_values, iter_values_soon
from crm.sales.imports.rows import RowInvalid, RowParser, json_values
from crm.sales.imports.template import example_row_test
from crm.sales.imports.workbook import SheetInfo, holds_value

IDENTITY_FIELDS = ("qq", "phone", "email")
# The columns of an imported lead's row that come from its record as they are (crm.sales.imports.runner).
LEAD_KEYS = ("qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
             "company", "salary", "source", "phone", "email", "memo", "inquiry_date")


class ParsedRow(NamedTuple):
    """One row with values: its lead values (with what saving them needs), or why it is invalid.

    Everything here depends on the row alone, so it can be worked out before (and while) the
    previous batch is saved. A tuple of plain values: it crosses a pipe from the reading process
    (crm.sales.imports.read_ahead) cheaply.
    """

    number: int
    lead: list | None  # the values of LEAD_KEYS; None: invalid (see `error`)
    error: str | None = None
    keys: tuple = ()  # (field, value) of its QQ, phone and e-mail
    referrer: str | None = None  # the QQ of the lead who referred it
    course_ids: list | tuple = ()
    values: tuple | None = None  # the cells as read (None once `cells` is worked out)
    cells: str | None = None  # the cells as the user wrote them (a formula as its text), as JSON
    lead_text: str | None = None  # `lead` in PostgreSQL's COPY text format, when worked out ahead

    def cells_json(self, width: int) -> str:
        """The row's cells as JSON for the error workbook (crm.sales.imports.rows.json_values)."""
        return self.cells if self.cells is not None else json_values(self.values, width)

    def copy_line(self) -> str:
        """`lead` as COPY text (tab-separated, no line end)."""
        return self.lead_text if self.lead_text is not None else copy_text(self.lead)

    def portable(self, width: int) -> ParsedRow:
        """The row as the reading process sends it: its cells as JSON instead of the values read (smaller and
        quick to unpickle) and its lead as COPY text (the worker's saving has less to do)."""
        if self.cells is not None:
            return self
        return self._replace(values=None, cells=json_values(self.values, width),
                             lead_text=None if self.lead is None else copy_text(self.lead))


def parsed_row(number: int, values: tuple, record: dict) -> ParsedRow:
    """A valid row with its identity keys and lead values worked out."""
    return ParsedRow(number, [record[key] for key in LEAD_KEYS], None,
                     tuple((key, record[key]) for key in IDENTITY_FIELDS if record[key]),
                     record["referrer_qq"], record["course_ids"], values)


@dataclass
class Batch:
    """The next `count` rows with values after the resume point, parsed."""

    count: int = 0
    rows: list[ParsedRow] = field(default_factory=list)
    # (row number, identity) of rows before the resume point that an earlier run imported.
    remember: list[tuple[int, dict]] = field(default_factory=list)


def sheet_rows(path: Path, info: SheetInfo) -> Iterator[tuple[int, tuple, dict]]:
    """(row number, cell values, {column: formula text} of formulas without a cached value) below the header."""
    first = info.header_row + 1
    options = dict(min_row=first, max_row=info.last_row, max_col=len(info.headers))
    values_book, values_sheet, _names = open_sheet(path, info.sheet_name, data_only=True)
    try:
        if not info.has_formulas:
            # The hot path: a compiled reader when the sheet fits in memory (its first rows streamed while
            # it loads), else a lean streaming pass over the sheet XML (about 3x openpyxl's cell objects).
            read = iter_values_soon if fast_reader_fits(path, values_sheet) else iter_values
            for number, row in enumerate(read(path, values_sheet, **options), start=first):
                yield number, row, {}
            return
        values = values_sheet.iter_rows(values_only=True, **options)
        # Only files with formulas lacking a stored result pay for a second pass: data_only=True reads
        # such a formula as None, so the formula view tells those apart from blanks.
        formula_book, formula_sheet, _names = open_sheet(path, info.sheet_name, data_only=False)
        try:
            cells = formula_sheet.iter_rows(**options)
            for number, (row, formula_row) in enumerate(zip(values, cells), start=first):
                row = tuple(decode_escapes(value) if isinstance(value, str) else value for value in row)
                missing = {
                    index: str(cell.value) for index, cell in enumerate(formula_row)
                    if getattr(cell, "data_type", None) == "f" and index < len(row) and row[index] is None
                }
                yield number, row, missing
        finally:
            formula_book.close()
    finally:
        values_book.close()


def parsed_batches(path: Path, info: SheetInfo, parser: RowParser, batch_size: int, resume_at: int,
                   rejected: set[int]) -> Iterator[Batch]:
    """The sheet's rows with values in batches of `batch_size`, parsed; the first `resume_at` only remembered."""
    is_example = example_row_test(info.keys)
    width = len(info.headers)
    batch = Batch()
    position = 0
    for number, values, formulas in sheet_rows(path, info):
        if not formulas and not holds_value(values) or is_example(values):
            continue  # blank, or the template's example row left in: neither counted nor imported
        position += 1
        if position <= resume_at:
            if number not in rejected:
                batch.remember.append((number, parser.identity(values)))
            continue
        batch.count += 1
        try:
            batch.rows.append(parsed_row(number, values, parser.parse(values, formulas)))
        except RowInvalid as error:
            # The error workbook shows the row as the user wrote it: a formula as its text.
            original = tuple(formulas.get(index, value) for index, value in enumerate(values))
            batch.rows.append(ParsedRow(number, None, str(error), cells=json_values(original, width)))
        if batch.count >= batch_size:
            yield batch
            batch = Batch()
    if batch.count or batch.remember:
        yield batch
