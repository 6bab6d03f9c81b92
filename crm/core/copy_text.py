"""Rows in PostgreSQL's COPY text format: what a bulk insert streams, worked out in plain Python.

psycopg's `Copy.write_row` formats each value through its type adapters, a few microseconds a
row; an import formats 100,000 rows of 25 values. For the few types an import writes, the text
format is simple: tab-separated, `\\N` for NULL, backslash escapes for backslash, tab, line
feed and carriage return (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format").
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: object) -> str:
    """One value as COPY text: None, str, bool, int, float, date, datetime (ISO 8601, with its offset)."""
    kind = value.__class__
    if value is None:
        return NULL
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is float:
        return repr(value)
    if isinstance(value, int):  # an int subclass (an enum): its number (bool, which cannot be subclassed, is above)
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"no COPY text for {kind.__name__}")


def copy_text(values: Iterable[object]) -> str:
    """Values as one COPY text row, without its line end."""
    return "\t".join([copy_value(value) for value in values])
