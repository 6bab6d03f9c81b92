"""CRM_SWEEP_SECONDS: how often beat runs the sweepers (due e-mail, stalled imports)."""
from __future__ import annotations

import datetime as dt

from celery.schedules import crontab, schedule

from crm.core.areas import beat_schedule

SWEEPERS = ("requeue-unsent-email", "resume-stalled-imports")


def test_the_sweepers_run_on_every_minute_by_default(app):
    for name in SWEEPERS:
        entry = beat_schedule(app)[name]["schedule"]
        assert isinstance(entry, crontab) and entry.minute == set(range(60)) and entry.hour == set(range(24))


def test_crm_sweep_seconds_sets_their_interval(build_app):
    other = build_app(CRM_SWEEP_SECONDS=5)
    for name in SWEEPERS:
        entry = beat_schedule(other)[name]["schedule"]
        assert isinstance(entry, schedule) and entry.run_every == dt.timedelta(seconds=5)
    # The nightly jobs keep their clock times.
    assert beat_schedule(other)["reclaim-expired-leads"]["schedule"].hour == {0}
