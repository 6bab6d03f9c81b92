"""Record ids as the database holds them: whole numbers from 1 to 2**31 - 1.

Numbers outside that range cannot name a row; passing them to PostgreSQL
raises "integer out of range" (a 500), so every path that turns user
input into an id bounds it here first.
"""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


def is_id(number: int) -> bool:
    """True when `number` can be a row id."""
    return 0 < number <= MAX_ID


class BoundedIntConverter(IntegerConverter):
    """The `int` URL converter, refusing numbers no row can have (they answer 404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
