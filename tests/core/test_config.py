"""Configuration from the environment: typed values, clear refusals (P-8)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import request

from crm.config import ConfigError, env_bool, env_int, load_config, normalise_database_url

ROOT = Path(__file__).resolve().parents[2]


def test_production_without_secret_key_fails_fast():
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config({"CRM_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"CRM_ENV": "production", "SECRET_KEY": "   "})


def test_production_is_the_default_environment():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({})


def test_starting_the_app_without_secret_key_stops_with_the_message_not_a_traceback_soup():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CRM_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ConfigError: SECRET_KEY is not set" in result.stderr


def test_production_with_secret_key_is_secure_by_default():
    config = load_config({"CRM_ENV": "production", "SECRET_KEY": "x" * 64})
    assert config["SECRET_KEY"] == "x" * 64
    assert config["TESTING"] is False
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["PREFERRED_URL_SCHEME"] == "https"
    assert config["WTF_CSRF_ENABLED"] is True


def test_defaults():
    config = load_config({"CRM_ENV": "testing"})
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/crm.sqlite3")
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert config["CELERY_BROKER_URL"] == config["REDIS_URL"]
    assert config["CRM_REDIS_PREFIX"] == "crm"
    assert config["CRM_TIMEZONE"] == "Asia/Shanghai"
    assert config["BABEL_DEFAULT_LOCALE"] == "zh_CN"
    assert config["CRM_LOGIN_MAX_FAILURES"] == 5
    assert config["MAIL_PORT"] == 25
    assert config["MAIL_USE_TLS"] is False
    assert config["SESSION_COOKIE_SECURE"] is False


def test_values_are_read_and_typed():
    config = load_config({
        "CRM_ENV": "development", "SECRET_KEY": "k", "DATABASE_URL": "postgresql://u:p@db/crm",
        "REDIS_URL": "redis://cache:6379/2", "CELERY_BROKER_URL": "redis://broker:6379/3",
        "CRM_REDIS_PREFIX": "campus", "CRM_TIMEZONE": "Europe/Berlin", "CRM_LOGIN_MAX_FAILURES": " 7 ",
        "CRM_PAGE_SIZE": "50", "MAIL_SERVER": "smtp.school.example", "MAIL_PORT": "587",
        "MAIL_USE_TLS": "yes", "MAIL_USERNAME": "crm", "MAIL_PASSWORD": "pw", "SESSION_COOKIE_SECURE": "on",
    })
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/crm"
    assert config["REDIS_URL"] == "redis://cache:6379/2"
    assert config["CELERY_BROKER_URL"] == "redis://broker:6379/3"
    assert config["CRM_REDIS_PREFIX"] == "campus"
    assert config["CRM_TIMEZONE"] == config["BABEL_DEFAULT_TIMEZONE"] == "Europe/Berlin"
    assert config["CRM_LOGIN_MAX_FAILURES"] == 7
    assert config["CRM_PAGE_SIZE"] == 50
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == ("smtp.school.example", 587, True)
    assert (config["MAIL_USERNAME"], config["MAIL_PASSWORD"]) == ("crm", "pw")
    assert config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://u:p@host:5432/crm", "postgresql+psycopg://u:p@host:5432/crm"),
        ("postgresql://u@host/crm", "postgresql+psycopg://u@host/crm"),
        ("postgresql+psycopg://u@host/crm", "postgresql+psycopg://u@host/crm"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_postgres_urls_are_normalised(url, expected):
    assert normalise_database_url(url) == expected
    assert load_config({"CRM_ENV": "testing", "DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == expected


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CRM_LOGIN_MAX_FAILURES", "five", "CRM_LOGIN_MAX_FAILURES must be a whole number, got 'five'"),
        ("CRM_LOGIN_LOCK_MINUTES", "1.5", "must be a whole number"),
        ("CRM_PAGE_SIZE", "2", "CRM_PAGE_SIZE must be at least 5, got 2"),
        ("MAIL_PORT", "0", "MAIL_PORT must be at least 1"),
        ("MAIL_PORT", "25x", "MAIL_PORT must be a whole number"),
        ("CRM_UPLOAD_MAX_BYTES", "-1", "at least 1024"),
        ("MAIL_USE_TLS", "maybe", "MAIL_USE_TLS must be a yes/no value, got 'maybe'"),
        ("SESSION_COOKIE_SECURE", "2", "SESSION_COOKIE_SECURE must be a yes/no value"),
        ("CRM_TIMEZONE", "Mars/Olympus", "CRM_TIMEZONE 'Mars/Olympus' is not a known time zone"),
        ("CRM_TIMEZONE", "../../etc/passwd", "not a known time zone"),
        ("CRM_ENV", "staging", "CRM_ENV must be production, development or testing"),
        ("MAIL_USE_SSL", "yes", "exclude each other"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(name, value, message):
    env = {"CRM_ENV": "testing", name: value}
    if name == "MAIL_USE_SSL":
        env["MAIL_USE_TLS"] = "yes"
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert message in str(caught.value)


@pytest.mark.parametrize("raw, expected", [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                           ("0", False), ("False", False), ("no", False), ("off", False),
                                           ("", True), (None, True)])
def test_booleans(raw, expected):
    env = {} if raw is None else {"FLAG": raw}
    assert env_bool("FLAG", True, env) is expected


def test_blank_integers_mean_the_default():
    assert env_int("N", 9, {"N": "  "}) == 9
    assert env_int("N", 9, {}) == 9
    assert env_int("N", 9, {"N": "12"}) == 12


def test_development_keeps_a_secret_key_of_its_own():
    first = load_config({"CRM_ENV": "development"})["SECRET_KEY"]
    second = load_config({"CRM_ENV": "development"})["SECRET_KEY"]
    assert first == second
    assert len(first) >= 32


def test_mail_backend_writes_files_only_in_development_without_a_server():
    assert load_config({"CRM_ENV": "development"})["MAIL_BACKEND"] == "file"
    assert load_config({"CRM_ENV": "development", "MAIL_SERVER": "smtp.x"})["MAIL_BACKEND"] == "smtp"
    assert load_config({"CRM_ENV": "production", "SECRET_KEY": "k"})["MAIL_BACKEND"] == "smtp"
    assert load_config({"CRM_ENV": "testing", "MAIL_BACKEND": " FILE "})["MAIL_BACKEND"] == "file"
    with pytest.raises(ConfigError, match="MAIL_BACKEND must be smtp or file, got 'pigeon'"):
        load_config({"CRM_ENV": "testing", "MAIL_BACKEND": "pigeon"})


def test_grab_limit_and_proxy_hops():
    config = load_config({"CRM_ENV": "testing"})
    assert (config["CRM_DAILY_GRAB_LIMIT"], config["CRM_PROXY_HOPS"]) == (0, 0)
    config = load_config({"CRM_ENV": "testing", "CRM_DAILY_GRAB_LIMIT": "20", "CRM_PROXY_HOPS": "1"})
    assert (config["CRM_DAILY_GRAB_LIMIT"], config["CRM_PROXY_HOPS"]) == (20, 1)
    with pytest.raises(ConfigError, match="CRM_PROXY_HOPS must be at least 0"):
        load_config({"CRM_ENV": "testing", "CRM_PROXY_HOPS": "-1"})


@pytest.mark.parametrize("hops, expected", [(0, ("127.0.0.1", "http")), (1, ("203.0.113.7", "https"))])
def test_forwarded_headers_are_trusted_only_behind_a_declared_proxy(build_app, hops, expected):
    probe = build_app(CRM_PROXY_HOPS=hops)
    seen = []
    probe.before_request(lambda: seen.append((request.remote_addr, request.scheme)))
    probe.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen == [expected]


# -- the README's configuration table is the list of settings -----------------------------------
class RecordingEnv(dict):
    """An environment that remembers which variables the config asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def readme_settings() -> dict[str, str]:
    """variable → default cell of the README's configuration table."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names_cell, default_cell = [cell.strip() for cell in line.strip("|").split("|")][:2]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", names_cell):
            rows[name] = default_cell
    return rows


def test_readme_lists_exactly_the_settings_config_reads():
    env = RecordingEnv({"CRM_ENV": "production", "SECRET_KEY": "x" * 64})
    load_config(env)
    development = RecordingEnv({"CRM_ENV": "development"})
    load_config(development)
    assert sorted(env.asked | development.asked) == sorted(readme_settings())


def test_readme_defaults_are_the_defaults_config_uses():
    import re

    from crm.config import CONFIG_KEY_OF

    config = load_config({"CRM_ENV": "production", "SECRET_KEY": "x" * 64})
    checked = 0
    for name, cell in readme_settings().items():
        literal = re.fullmatch(r"`([^`]*)`(?: \([^)]*\))?", cell)
        if literal is None:
            continue  # a described default ("none in production", "4 × ...")
        value = config.get(CONFIG_KEY_OF.get(name, name))
        raw = literal.group(1)
        if isinstance(value, bool):
            assert value == (raw == "yes"), name
        elif isinstance(value, int):
            assert value == int(raw), name
        elif raw in config:  # "defaults to another setting's value"
            assert value == config[raw], name
        elif raw.startswith(("instance/", "sqlite:///instance/")):  # a path inside this checkout
            assert value.endswith(raw.split("///", 1)[-1]), name
        elif isinstance(value, (list, tuple)):
            assert ",".join(map(str, value)) == raw, name
        else:
            assert str(value) == raw, name
        checked += 1
    assert checked >= 25


def test_no_module_but_config_reads_the_environment():
    import re

    offenders = []
    for path in sorted((ROOT / "crm").rglob("*.py")):
        if path.name in {"config.py", "devserver.py", "devredis.py"}:
            continue  # devserver/devredis start processes for `make run` and pass the environment on
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
