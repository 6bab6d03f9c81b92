"""The rooms settings: parsed and checked in crm/config.py, and the slots follow them (R-1)."""
from __future__ import annotations

import pytest

from crm.config import ConfigError, load_config
from crm.rooms.cells import slot_hours

BASE = {"CRM_ENV": "testing"}


def test_defaults_give_thirteen_hourly_slots(app):
    config = load_config(BASE)
    assert (config["CRM_ROOM_FIRST_HOUR"], config["CRM_ROOM_LAST_HOUR"]) == (8, 20)
    assert config["CRM_ROOM_DAILY_HOURS_LIMIT"] == 0
    assert config["CRM_ROOM_REPEAT_MAX_WEEKS"] >= 1
    assert slot_hours() == list(range(8, 21))


def test_slots_follow_the_settings(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_ROOM_FIRST_HOUR", 9)
    monkeypatch.setitem(app.config, "CRM_ROOM_LAST_HOUR", 17)
    assert slot_hours() == list(range(9, 18))


@pytest.mark.parametrize("env", [
    {"CRM_ROOM_FIRST_HOUR": "12", "CRM_ROOM_LAST_HOUR": "10"},
    {"CRM_ROOM_LAST_HOUR": "24"},
    {"CRM_ROOM_FIRST_HOUR": "-1"},
    {"CRM_ROOM_FIRST_HOUR": "eight"},
    {"CRM_ROOM_REPEAT_MAX_WEEKS": "0"},
    {"CRM_ROOM_DAILY_HOURS_LIMIT": "-2"},
    {"CRM_ROOM_HORIZON_DAYS": "0"},
])
def test_bad_settings_stop_the_app_with_a_message(env):
    with pytest.raises(ConfigError, match="CRM_ROOM_"):
        load_config({**BASE, **env})
