"""The one place that knows what "today" is (CRM_TIMEZONE local date)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Asia/Shanghai"


def local_zone() -> ZoneInfo:
    """The school's time zone."""
    name = current_app.config["CRM_TIMEZONE"] if has_app_context() else DEFAULT_TIMEZONE
    return ZoneInfo(name)


def utcnow() -> dt.datetime:
    """The current instant as an aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


def now() -> dt.datetime:
    """The current instant in the school's time zone."""
    return utcnow().astimezone(local_zone())


def today() -> dt.date:
    """Today's business date in the school's time zone."""
    return now().date()


def to_local(value: dt.datetime | None) -> dt.datetime | None:
    """Convert a stored (UTC, possibly naive) datetime to local time for display."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(local_zone())
