"""One imported row: cell values read as the user sees them, checked, and turned into a lead record."""
from __future__ import annotations

import datetime as dt
import json
import math
import re

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.core.errors import DomainError
from crm.extensions import db
from crm.org.models import Course
from crm.sales.imports.columns import COLUMNS, COLUMNS_BY_KEY, REQUIRED_KEYS, Column
from crm.sales.leads import fields

COURSE_SEPARATORS = re.compile(r"[;；\n]")
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
WHOLE_FLOAT_TEXT = re.compile(r"^\d+\.0+$")
CJK_DATE = re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?\s*$")


class RowInvalid(Exception):
    """A row that cannot be imported; the message is the reason shown to the user."""


def _label(key: str) -> str:
    column = COLUMNS_BY_KEY[key]
    return f"{column.zh} ({column.en})"


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


def _field_refusal(key: str, error: DomainError) -> RowInvalid:
    """A lead-field rule's message (crm.sales.leads.fields) under the column's name."""
    return RowInvalid(f"{_label(key)}: {error.message}")


def parse_choice(key: str, value: object) -> int:
    """A choice cell by Chinese label, English label or numeric code (the lead fields' rule)."""
    if isinstance(value, bool):
        value = plain_text(value)
    try:
        return fields.choice_code(key, value if isinstance(value, (int, float, str)) else plain_text(value),
                                  required=True)
    except DomainError as error:
        raise _field_refusal(key, error) from None


def parse_date(key: str, value: object, today: dt.date) -> dt.date:
    """A date cell: a real date or text YYYY-MM-DD (the lead fields' rule: not in the future)."""
    if not isinstance(value, (dt.date, dt.datetime)):
        value = plain_text(value)
        cjk = CJK_DATE.match(value)
        if cjk:  # 2026年11月6日: the lead fields' rule reads the same date as 2026-11-06
            value = "{}-{:0>2}-{:0>2}".format(*cjk.groups())
    try:
        return fields.inquiry_date(value, today)
    except DomainError as error:
        raise _field_refusal(key, error) from None


SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
UNIQUE_KINDS = frozenset({"qq", "referrer", "phone", "email"})  # a lead's own contacts: rarely repeated
KNOWN_VALUES_MAX = 50_000
UNTABLED_AFTER = 1000  # distinct cells of a column before it may be found not worth tabling
COLUMN_KEYS = tuple(column.key for column in COLUMNS)


class RowParser:
    """Turns the cells of one row into Customer values, or raises RowInvalid."""

    def __init__(self, keys: list[str | None], today: dt.date):
        self.keys = keys
        self.today = today
        # Per column of COLUMNS, the sheet column it is read from (the last one mapped to it), or None.
        column_of = {key: index for index, key in enumerate(keys) if key is not None}
        self.plan = [column_of.get(column.key) for column in COLUMNS]
        self.courses = {name.casefold(): (course_id, name) for course_id, name in
                        db.session.execute(sa.select(Course.id, Course.name))}
        # A sheet repeats its choices, dates, courses and many texts row after row: each distinct cell is
        # checked once, in a table per column (a text cell is its own key, another value is keyed with its
        # type: 1, 1.0 and True are different cells). Bounded: all emptied when they hold KNOWN_VALUES_MAX.
        self.known: dict[str, dict | None] = {column.key: {} for column in COLUMNS if column.kind not in UNIQUE_KINDS}
        self.known_count = 0
        self.rows_seen = 0
        # Per column of COLUMNS, in order: (sheet column or None, the column, its table or None, required).
        self.steps = [(index, column, self.known.get(column.key), column.key in REQUIRED_KEYS)
                      for index, column in zip(self.plan, COLUMNS)]
        self.domains: dict[str, str] = {}  # e-mail domain -> as the lead fields' rule writes it ("" refused)

    def parse(self, values: tuple, formula_columns: set[int] = frozenset()) -> dict:
        """Validated values of a row (keys of COLUMNS plus course_ids)."""
        if formula_columns:
            for index, key in enumerate(self.keys):
                if key is not None and index in formula_columns:
                    raise RowInvalid(_("%(column)s holds a formula without a calculated value; open the file in "
                                       "Excel, save it, and upload it again (or paste the values).",
                                       column=_label(key)))
        self.rows_seen += 1
        size = len(values)
        found = []
        missing = None  # the first required column (in COLUMNS order) without a value
        for index, column, known, required in self.steps:
            value = values[index] if index is not None and index < size else None
            if value is None or (isinstance(value, str) and not value.strip()):  # fields.is_blank, inlined
                if required and missing is None:
                    missing = column
                continue
            found.append((column, known, value))
        if missing is not None:
            raise RowInvalid(_("%(column)s is required.", column=_label(missing.key)))
        record = dict.fromkeys(COLUMN_KEYS)
        for column, known, value in found:
            if known is None:  # a lead's own contacts: rarely repeated
                record[column.key] = self._check_value(column, value)
                continue
            key = value if value.__class__ is str else (value.__class__, value)
            result = known.get(key)
            if result is None:
                try:
                    result = (True, self._check_value(column, value))
                except RowInvalid as error:
                    result = (False, str(error))
                self._table(column.key, known, key, result)
            if not result[0]:
                raise RowInvalid(result[1])
            record[column.key] = list(result[1]) if isinstance(result[1], list) else result[1]
        record["course_ids"] = record.pop("courses") or []
        record["inquiry_date"] = record["inquiry_date"] or self.today
        return record

    def _table(self, name: str, known: dict, key, result: tuple) -> None:
        """Remember a checked cell; a column whose cells hardly repeat (a memo, say) stops being tabled."""
        if len(known) >= UNTABLED_AFTER and len(known) * 10 > self.rows_seen * 9:
            self.known[name] = None  # more than 90 % distinct so far: checking is cheaper than remembering
            self.steps = [(index, column, self.known.get(column.key), required)
                          for index, column, _known, required in self.steps]
            self.known_count -= len(known)
            return
        if self.known_count >= KNOWN_VALUES_MAX:
            for table in self.known.values():
                if table is not None:
                    table.clear()
            self.known_count = 0
        known[key] = result
        self.known_count += 1

    def identity(self, values: tuple) -> dict[str, str]:
        """The normalised QQ / phone / e-mail of a row, skipping any that do not parse."""
        found = {}
        for index, key in enumerate(self.keys):
            if key in ("qq", "phone", "email") and index < len(values) and not fields.is_blank(values[index]):
                try:
                    found[key] = self._check_value(COLUMNS_BY_KEY[key], values[index])
                except RowInvalid:
                    continue
        return found

    def _check_value(self, column: Column, value: object):
        kind = column.kind
        if kind == "text":
            text = plain_text(value)
            try:
                if column.key == "name":
                    return fields.check_name(text)
                return fields.check_text(column.key, text, fields.TEXT_LIMITS[column.key])
            except DomainError as error:
                raise _field_refusal(column.key, error) from None
        if kind == "choice":
            return parse_choice(column.key, value)
        if kind == "date":
            return parse_date(column.key, value, self.today)
        if kind == "courses":
            return self._parse_courses(value)
        try:
            if kind in ("qq", "referrer"):
                return fields.normalise_qq(digits_text(column.key, value))
            if kind == "phone":
                return fields.normalise_phone(digits_text(column.key, value))
            if kind == "email":
                return self._email(plain_text(value))
        except DomainError as error:
            raise _field_refusal(column.key, error) from None
        raise AssertionError(f"unknown column kind {kind}")

    def _email(self, text: str) -> str:
        """fields.normalise_email, with the domain of a plain address checked once per file.

        For an ASCII local part of letters, digits and ._%+- (dots only between them) the lead
        fields' rule accepts the address exactly when it accepts that domain, and gives the
        local part unchanged: the whole address lower-cased. Any other address, or a refused
        domain (for its message), takes the rule itself.
        """
        local, at, domain = text.rpartition("@")
        if at and len(text) <= min(fields.EMAIL_MAX, 254) and len(local) <= 64 and SIMPLE_LOCAL.fullmatch(local):
            known = self.domains.get(domain)
            if known is None:
                try:
                    known = fields.normalise_email("x@" + domain).split("@", 1)[1]
                except DomainError:
                    known = ""
                self.domains[domain] = known
            if known:
                return f"{local}@{known}".lower()
        return fields.normalise_email(text)

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
    """The original cells of a row as JSON (dates as ISO text), padded to the header width.

    Written by the C encoder, which asks `_json_cell` only for what JSON has no type for (called
    for each row of an import: a loop over the cells in Python cost several times more).
    """
    cells = list(values[:width])
    cells.extend([None] * (width - len(cells)))
    try:
        return json.dumps(cells, ensure_ascii=False, allow_nan=False, default=_json_cell)
    except ValueError:  # NaN or an infinity, which JSON has no number for: written as text
        cells = [str(value) if isinstance(value, float) and not math.isfinite(value) else value for value in cells]
        return json.dumps(cells, ensure_ascii=False, default=_json_cell)


def _json_cell(value: object) -> str:
    """A cell JSON has no type for: a date, time or date and time as ISO text, anything else as its text."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)
