"""Cells of the booking grid: (room, date, hourly slot), their text form and their rules (R-1)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app

from crm.core import clock
from crm.core.ids import is_id


@dataclass(frozen=True, order=True)
class Cell:
    """One hour of one room on one date; `slot` is the local start hour."""

    room_id: int
    day: dt.date
    slot: int

    @property
    def key(self) -> str:
        """The cell as a form value: ``room:YYYY-MM-DD:hour``."""
        return f"{self.room_id}:{self.day.isoformat()}:{self.slot}"

    def starts_at(self, zone=None) -> dt.datetime:
        """The slot's start as an aware local datetime."""
        return dt.datetime.combine(self.day, dt.time(self.slot), tzinfo=zone or clock.local_zone())

    def in_weeks(self, weeks: int) -> Cell:
        """The same cell `weeks` weeks later."""
        return Cell(self.room_id, self.day + dt.timedelta(weeks=weeks), self.slot)


def parse_cell(raw: object) -> Cell | None:
    """A cell from its form value, or None when the text cannot be one (wrong shape, absurd numbers)."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    parts = raw.strip().split(":")
    if len(parts) != 3:
        return None
    room, day, slot = parts
    if not (room.isascii() and room.isdigit() and slot.isascii() and slot.isdigit()) or len(slot) > 2:
        return None
    try:
        parsed_day = dt.date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        parsed_day = None
    room_id = int(room)
    if parsed_day is None or not is_id(room_id):
        return None
    return Cell(room_id, parsed_day, int(slot))


def slot_hours() -> list[int]:
    """The configured hourly slots (R-1): CRM_ROOM_FIRST_HOUR … CRM_ROOM_LAST_HOUR."""
    config = current_app.config
    return list(range(int(config["CRM_ROOM_FIRST_HOUR"]), int(config["CRM_ROOM_LAST_HOUR"]) + 1))


def slot_label(slot: int) -> str:
    """``08:00–09:00``."""
    return f"{slot:02d}:00–{(slot + 1) % 24:02d}:00"


def cell_label(cell: Cell, room_names: dict[int, str]) -> str:
    """``Room 301, 2026-12-02 09:00–10:00`` for messages."""
    return f"{room_names.get(cell.room_id, '#' + str(cell.room_id))} {cell.day.isoformat()} {slot_label(cell.slot)}"


def is_past(cell: Cell, now: dt.datetime) -> bool:
    """A slot that has started (or ended) can no longer be booked or cancelled."""
    return cell.starts_at() <= now


def max_repeat_weeks() -> int:
    """CRM_ROOM_REPEAT_MAX_WEEKS (R-6)."""
    return max(int(current_app.config["CRM_ROOM_REPEAT_MAX_WEEKS"]), 1)


def daily_hours_limit() -> int:
    """CRM_ROOM_DAILY_HOURS_LIMIT: booked hours per user and date, 0 = no limit (R-5)."""
    return max(int(current_app.config.get("CRM_ROOM_DAILY_HOURS_LIMIT") or 0), 0)


def horizon_days() -> int:
    """CRM_ROOM_HORIZON_DAYS: the furthest date ahead one may book."""
    return max(int(current_app.config["CRM_ROOM_HORIZON_DAYS"]), 1)
