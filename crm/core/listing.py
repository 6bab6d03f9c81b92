"""Helpers for hand-written list pages (P-5).

A list page does four things with this module:

1. ``query = parse_list_query(request.args, sorts=..., filters=...)`` turns the
   query string into a typed :class:`ListQuery` (bad values are dropped, never
   a 500).
2. It builds its own ``select()`` with the filters, then
   ``page = paginate(stmt, query, order_by=...)`` runs it for one page.
   Pagination is bounded: it fetches ``per_page + 1`` rows to know whether a
   next page exists and never counts the whole table, so a list stays fast at
   a million rows. Deep pages are capped (``MAX_PAGE``); narrow the filters
   instead of paging further.
3. Templates build links with ``url_with(page=2)`` / ``url_with(sort="-name")``,
   which keep every other query argument, so filters survive paging, sorting
   and the round trip through an edit form.
4. ``xlsx_response(...)`` exports the filtered rows to .xlsx with openpyxl's
   write-only mode (memory flat in the number of rows), capped at
   ``EXPORT_ROW_CAP`` rows with a note in the file when the cap cut it.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request, send_file
from flask_babel import gettext as _
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from crm.core.ids import MAX_ID
from crm.extensions import db

PER_PAGE_CHOICES = (20, 50, 100, 200)  # besides CRM_PAGE_SIZE, the default of every list
MAX_PAGE = 2000  # offset pagination beyond this gets slow; filters narrow better
MAX_SEARCH_LENGTH = 100
EXPORT_ROW_CAP = 100_000


# -- parsing -------------------------------------------------------------------------------
def to_int(value: str) -> int | None:
    """A whole number from a query value, or None."""
    try:
        number = int(value.strip())
    except (AttributeError, ValueError):
        return None
    # Ids and page numbers beyond what the database holds mean nothing: treat them as absent.
    return number if abs(number) <= MAX_ID else None


def to_date(value: str) -> dt.date | None:
    """An ISO date (YYYY-MM-DD) from a query value, or None."""
    try:
        return dt.date.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        return None


def to_bool(value: str) -> bool | None:
    """'1'/'true'/'yes'/'on' → True, '0'/'false'/'no'/'off' → False, else None."""
    lowered = (value or "").strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    return None


@dataclass
class ListQuery:
    """What the query string asks of a list page."""

    page: int = 1
    per_page: int = 50  # parse_list_query sets CRM_PAGE_SIZE
    sort: str = ""  # key of the `sorts` mapping
    descending: bool = False
    search: str = ""
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def sort_arg(self) -> str:
        """The sort as it appears in the URL ('-name' for descending)."""
        return f"-{self.sort}" if self.descending else self.sort

    def toggled_sort(self, key: str) -> str:
        """The sort argument a column header links to: flips direction on the current column."""
        if key == self.sort:
            return key if self.descending else f"-{key}"
        return key


def page_size() -> int:
    """Rows per page of every list: CRM_PAGE_SIZE."""
    return int(current_app.config["CRM_PAGE_SIZE"])


def parse_list_query(args: Mapping[str, str], *, sorts: Iterable[str], default_sort: str,
                     filters: Mapping[str, Callable[[str], Any]] | None = None,
                     multi: Iterable[str] = ()) -> ListQuery:
    """Parse page, per_page, sort ('name' or '-name'), q and the named filters.

    `filters` maps an argument name to a converter returning None for a bad
    value (the filter is then ignored). Names in `multi` may repeat
    (``?course=1&course=2``) and give a list.
    """
    query = ListQuery()
    page = to_int(args.get("page", "")) or 1
    query.page = min(max(page, 1), MAX_PAGE)
    per_page = to_int(args.get("per_page", ""))
    default = page_size()
    query.per_page = per_page if per_page in (*PER_PAGE_CHOICES, default) else default
    sort = (args.get("sort") or default_sort).strip()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    allowed = set(sorts)
    if key not in allowed:
        descending = default_sort.startswith("-")
        key = default_sort.lstrip("-")
    query.sort, query.descending = key, descending
    query.search = (args.get("q") or "").strip()[:MAX_SEARCH_LENGTH]
    multi = set(multi)
    for name, convert in (filters or {}).items():
        if name in multi and hasattr(args, "getlist"):
            values = [convert(v) for v in args.getlist(name) if v.strip()]
            values = [v for v in values if v is not None]
            if values:
                query.filters[name] = values
            continue
        raw = args.get(name, "")
        if raw is None or not str(raw).strip():
            continue
        value = convert(raw)
        if value is not None:
            query.filters[name] = value
    return query


# -- pagination ----------------------------------------------------------------------------
@dataclass
class Page:
    """One page of rows and whether there are neighbours."""

    items: list
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        """True unless this is the first page."""
        return self.page > 1

    @property
    def first_index(self) -> int:
        """1-based position of the first row on this page."""
        return (self.page - 1) * self.per_page + 1


def order_clauses(query: ListQuery, sorts: Mapping[str, Any], tiebreaker: Any) -> list:
    """ORDER BY for the chosen sort, with a unique tiebreaker so pages never overlap."""
    column = sorts[query.sort]
    columns = column if isinstance(column, (list, tuple)) else [column]
    ordered = [c.desc() if query.descending else c.asc() for c in columns]
    ordered.append(tiebreaker.desc() if query.descending else tiebreaker.asc())
    return ordered


def paginate(stmt: sa.Select, query: ListQuery, *, scalars: bool = True) -> Page:
    """Run an ordered select for the query's page, fetching one extra row for `has_next`."""
    stmt = page_statement(stmt, query)
    return page_of(list(db.session.scalars(stmt)) if scalars else records(db.session.execute(stmt)), query)


def page_statement(stmt: sa.Select, query: ListQuery) -> sa.Select:
    """An ordered select cut to the query's page and one row more (which tells `has_next`)."""
    return stmt.limit(query.per_page + 1).offset((query.page - 1) * query.per_page)


def records(result: sa.Result) -> list[tuple]:
    """A result's rows as named tuples of its columns, for the pages that read many rows' fields.

    A SQLAlchemy Row answers a field read by name only after a normal attribute lookup has failed,
    with the AttributeError that makes: 0.3-0.4 µs a field, over ten times a named tuple's. A list
    page reads ten fields of fifty rows, in Python and again in its template.
    """
    return list(map(_record_class(tuple(result.keys()))._make, result))


@functools.lru_cache(maxsize=256)
def _record_class(fields: tuple[str, ...]) -> type:
    return collections.namedtuple("Record", fields, rename=True)


def page_of(rows: list, query: ListQuery) -> Page:
    """The Page of rows fetched by a `page_statement`."""
    return Page(items=rows[: query.per_page], page=query.page, per_page=query.per_page,
                has_next=len(rows) > query.per_page)


def paginate_list(items: list, query: ListQuery) -> Page:
    """Paginate rows already in memory (small, bounded sets such as one consultant's leads)."""
    start = (query.page - 1) * query.per_page
    chunk = items[start:start + query.per_page + 1]
    return Page(items=chunk[: query.per_page], page=query.page, per_page=query.per_page,
                has_next=len(chunk) > query.per_page)


# -- URLs ----------------------------------------------------------------------------------
def url_with(**changes: Any) -> str:
    """The current URL with some query arguments changed; None removes one.

    Any change other than `page` itself resets to page 1, so a new filter or
    sort never lands on an empty deep page.
    """
    args: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
    if "page" not in changes:
        args.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        elif isinstance(value, (list, tuple)):
            args[key] = [str(v) for v in value]
        else:
            args[key] = [str(value)]
    pairs = [(k, v) for k in sorted(args) for v in args[k]]
    return request.path + ("?" + urlencode(pairs) if pairs else "")


def option_list(rows: Iterable, chosen: Any = None) -> Markup:
    """The <option> elements of a select box of (value, label) rows, `chosen` selected (template global).

    Select boxes of consultants or courses repeat on every list page with the same rows: the markup
    is kept per (rows, chosen) value, so a renamed course or a new consultant is a new key.
    """
    return _option_list(tuple(tuple(row) for row in rows), chosen)


@functools.lru_cache(maxsize=256)
def _option_list(rows: tuple, chosen: Any) -> Markup:
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(value, Markup(" selected") if value == chosen else "", label)
        for value, label in rows
    )


def row_urls(endpoint: str, id_arg: str, **values: Any) -> Callable[[int], str]:
    """A maker of `url_for(endpoint, **{id_arg: id}, **values)` for the rows of one page.

    The URL is built once with a placeholder id and cut around it, so fifty rows cost fifty string
    joins instead of fifty route builds. `id_arg` must be an int path argument (no escaping).
    """
    from flask import url_for

    placeholder = 987654321987
    built = url_for(endpoint, **{id_arg: placeholder}, **values)
    head, sep, tail = built.partition(str(placeholder))
    if not sep or "?" in head:
        raise ValueError(f"{endpoint}: {id_arg} is not part of the URL's path")

    def url(row_id: int) -> str:
        return f"{head}{int(row_id)}{tail}"

    return url


def current_list_url() -> str:
    """Path and query of this request: the 'next' for edit forms so filters survive a save."""
    return request.full_path.rstrip("?")


# -- export --------------------------------------------------------------------------------
def excel_cell(sheet, value: Any) -> Any:
    """A value ready for a write-only sheet: user text stays text, dates stay dates.

    Text starting with "=" is written as a string cell, so Excel shows it and never runs it
    as a formula (the text itself is kept exactly). Time zones are dropped (Excel has none);
    dates get a date format.
    """
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    if isinstance(value, dt.datetime):
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None) if value.tzinfo else value)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value


def xlsx_response(filename: str, headers: list[str], rows: Iterable[Iterable[Any]], *,
                  sheet_title: str = "export", cap: int = EXPORT_ROW_CAP):
    """Stream rows into an .xlsx download (write-only workbook, at most `cap` rows): every export uses this.

    The workbook is written to a temporary file as rows arrive, so memory
    stays flat; when more than `cap` rows match, the file stops there and its
    last row says so (the header X-Export-Truncated is also set).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    bold = Font(bold=True)
    header_cells = []
    for title in headers:
        cell = WriteOnlyCell(sheet, value=str(title))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    written = 0
    truncated = False
    for row in rows:
        if written >= cap:
            truncated = True
            break
        sheet.append([excel_cell(sheet, v) for v in row])
        written += 1
    if truncated:
        sheet.append([_("Only the first %(cap)s rows were exported; narrow the filters to export the rest.",
                        cap=cap)])
    target = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(target)
    target.seek(0)
    response = send_file(
        target, as_attachment=True, download_name=filename,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response.headers["X-Export-Rows"] = str(written)
    if truncated:
        response.headers["X-Export-Truncated"] = "1"
    return response


def stream_rows(stmt: sa.Select, *, batch: int = 1000):
    """Yield result rows in batches from the database (server-side where supported)."""
    result = db.session.execute(stmt.execution_options(yield_per=batch))
    yield from result
