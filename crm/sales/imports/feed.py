"""The import job's rows, read and parsed in batches; optionally one batch ahead of the batch being saved.

`parsed_batches` reads the sheet, skips blank rows and the template's example row, and checks
each row on its own (crm.sales.imports.rows: pure Python, no database). With
CRM_IMPORT_READ_AHEAD=1, `AheadFeed` runs it in a producer thread while the job's own thread
saves the current batch: PostgreSQL works in its own process, so while a batch's COPY and commit
run, the Python of the next batch could too. Everything that depends on earlier batches having
been saved (the in-file duplicate index, the duplicate lookup, allocation, the claim on
`processed_rows`) stays with the saving thread, in row order: the producer only does per-row
work whose result does not depend on other rows. At most two parsed batches wait (the queue
holds one), which keeps memory bounded.

Measured with PostgreSQL on the same two cores (100,000 rows), the thread did not pay: the
saving thread then waited about as long for the interpreter lock, each time PostgreSQL
answered, as the parsing it no longer did itself, so it is off by default.
"""
from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import get_locale, get_translations

from crm.core.xlsx import decode_escapes, open_sheet
from crm.core.xlsx_rows import fast_reader_fits, iter_values, iter_values_fast
from crm.sales.imports.rows import RowInvalid, RowParser, json_values
from crm.sales.imports.template import example_row_test
from crm.sales.imports.workbook import SheetInfo, holds_value

IDENTITY_FIELDS = ("qq", "phone", "email")
# The columns of an imported lead's row that come from its record as they are (crm.sales.imports.runner).
LEAD_KEYS = ("qq", "name", "gender", "education", "graduation_school", "major", "experience", "work_status",
             "company", "salary", "source", "phone", "email", "memo", "inquiry_date")


@dataclass
class ParsedRow:
    """One row with values: its cells, and either its lead record (with what saving it needs) or why it is invalid.

    Everything here depends on the row alone, so the producer thread works it out while the
    previous batch is being saved.
    """

    number: int
    values: tuple
    record: dict | None = None  # None: invalid (see `error`)
    error: str | None = None
    error_json: str | None = None  # the cells as the user wrote them (a formula as its text), as JSON, when invalid
    keys: list[tuple[str, str]] = field(default_factory=list)  # (field, value) of its QQ, phone and e-mail
    lead: list | None = None  # the values of LEAD_KEYS


def parsed_row(number: int, values: tuple, record: dict) -> ParsedRow:
    """A valid row with its identity keys and lead values worked out."""
    return ParsedRow(number, values, record, keys=[(key, record[key]) for key in IDENTITY_FIELDS if record[key]],
                     lead=[record[key] for key in LEAD_KEYS])


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
            # The hot path: a compiled reader when the sheet fits in memory, else a lean streaming pass
            # over the sheet XML (about 3x openpyxl's cell objects).
            read = iter_values_fast if fast_reader_fits(path, values_sheet) else iter_values
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
            batch.rows.append(ParsedRow(number, values, error=str(error), error_json=json_values(original, width)))
        if batch.count >= batch_size:
            yield batch
            batch = Batch()
    if batch.count or batch.remember:
        yield batch


_DONE = object()


class AheadFeed:
    """Iterates `parsed_batches` computed by a producer thread one batch ahead; use as a context manager.

    The thread runs in a copy of the caller's context (application, request and locale), so the
    messages of invalid rows read as they would in the caller; the locale and translations are
    resolved by the caller first, so the thread never looks them up (or touches the database).
    An exception in the producer is raised in the caller at the batch where it happened.
    """

    def __init__(self, batches: Iterator[Batch]):
        self.batches = batches
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        get_locale(), get_translations()  # cached on the context the thread shares
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._produce,), name="import-feed", daemon=True)

    def __enter__(self) -> AheadFeed:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        while self.thread.is_alive():  # unblock a producer waiting on the full queue
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for batch in self.batches:
                if not self._put(batch):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
            self._put(error)
            return
        finally:
            close = getattr(self.batches, "close", None)
            if close is not None:
                close()
        self._put(_DONE)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
