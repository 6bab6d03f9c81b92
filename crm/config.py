"""Configuration read from the environment and parsed into typed values.

This is the only module that reads the environment (STYLE: "Reading os.environ
outside crm/config.py" is avoided). Every setting is listed in the README's
configuration table with the same default; tests/core/test_config.py checks
that the table and `load_config` agree.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


class ConfigError(RuntimeError):
    """Raised when the environment does not describe a usable configuration."""


def env_bool(name: str, default: bool, env: dict | None = None) -> bool:
    """Read a yes/no environment variable ('1', 'true', 'yes', 'on' mean yes)."""
    env = os.environ if env is None else env
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a yes/no value, got {raw!r}")


def env_int(name: str, default: int, env: dict | None = None, minimum: int | None = None) -> int:
    """Read an integer environment variable, refusing garbage with a clear message."""
    env = os.environ if env is None else env
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def normalise_database_url(url: str) -> str:
    """Point plain postgres URLs at the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _dev_secret_key() -> str:
    """A per-checkout secret for development, kept in instance/ so sessions survive restarts."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def mail_backend(env: dict, crm_env: str) -> str:
    """MAIL_BACKEND (smtp or file); development without MAIL_SERVER writes files."""
    raw = env.get("MAIL_BACKEND", "").strip().lower()
    if not raw:
        return "file" if crm_env == "development" and not env.get("MAIL_SERVER", "").strip() else "smtp"
    if raw not in {"smtp", "file"}:
        raise ConfigError(f"MAIL_BACKEND must be smtp or file, got {raw!r}")
    return raw


def log_format(env: Mapping[str, str]) -> str:
    """CRM_LOG_FORMAT: json or text."""
    raw = env.get("CRM_LOG_FORMAT", "").strip().lower() or "json"
    if raw not in {"json", "text"}:
        raise ConfigError(f"CRM_LOG_FORMAT must be json or text, got {raw!r}")
    return raw


# Environment variables whose Flask config key has another name.
CONFIG_KEY_OF = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "CRM_REQUEST_MAX_BYTES": "MAX_CONTENT_LENGTH",
}


def load_config(env: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config dict from environment variables."""
    env = dict(os.environ) if env is None else env
    crm_env = env.get("CRM_ENV", "production").strip().lower()
    if crm_env not in {"production", "development", "testing"}:
        raise ConfigError(f"CRM_ENV must be production, development or testing, got {crm_env!r}")

    secret = env.get("SECRET_KEY", "").strip()
    if not secret:
        if crm_env == "production":
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random string "
                "(python -c 'import secrets; print(secrets.token_hex(32))') "
                "or set CRM_ENV=development for a local run."
            )
        secret = _dev_secret_key() if crm_env == "development" else "testing-secret-key"

    default_db = "sqlite:///" + str(INSTANCE_DIR / "crm.sqlite3")
    database_url = normalise_database_url(env.get("DATABASE_URL", "").strip() or default_db)
    redis_url = env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"

    timezone = env.get("CRM_TIMEZONE", "").strip() or "Asia/Shanghai"
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:
        raise ConfigError(f"CRM_TIMEZONE {timezone!r} is not a known time zone") from None

    if env_bool("MAIL_USE_TLS", False, env) and env_bool("MAIL_USE_SSL", False, env):
        raise ConfigError("MAIL_USE_TLS (STARTTLS, port 587) and MAIL_USE_SSL (port 465) exclude each other")

    # rooms
    room_first_hour = env_int("CRM_ROOM_FIRST_HOUR", 8, env, minimum=0)
    room_last_hour = env_int("CRM_ROOM_LAST_HOUR", 20, env, minimum=0)
    if not room_first_hour <= room_last_hour <= 23:
        raise ConfigError(
            f"CRM_ROOM_FIRST_HOUR ({room_first_hour}) and CRM_ROOM_LAST_HOUR ({room_last_hour}) must satisfy "
            "0 <= first <= last <= 23 (the last slot starts at CRM_ROOM_LAST_HOUR)"
        )
    # surveys
    remember_days = env_int("CRM_REMEMBER_DAYS", 14, env, minimum=1)
    survey_reminder_hour = env_int("CRM_SURVEY_REMINDER_HOUR", 9, env, minimum=0)
    if survey_reminder_hour > 23:
        raise ConfigError(f"CRM_SURVEY_REMINDER_HOUR must be an hour from 0 to 23, got {survey_reminder_hour}")

    production = crm_env == "production"
    max_failures = env_int("CRM_LOGIN_MAX_FAILURES", 5, env, minimum=1)
    return {
        "CRM_ENV": crm_env,
        "TESTING": crm_env == "testing",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "CRM_REDIS_PREFIX": env.get("CRM_REDIS_PREFIX", "crm").strip() or "crm",
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL", "").strip() or redis_url,
        "CRM_TIMEZONE": timezone,
        # Log lines: "json" (one object per line with a request id) or "text" (the same fields as text).
        "CRM_LOG_FORMAT": log_format(env),
        "CRM_LOGIN_MAX_FAILURES": max_failures,
        # Per client address: a shared office IP gets more room than one account.
        "CRM_LOGIN_MAX_FAILURES_IP": env_int("CRM_LOGIN_MAX_FAILURES_IP", max_failures * 4, env, minimum=1),
        "CRM_LOGIN_LOCK_MINUTES": env_int("CRM_LOGIN_LOCK_MINUTES", 15, env, minimum=1),
        # S-6: the allocation queue re-reads the table at least this often, whatever changed.
        "CRM_ALLOCATION_RECHECK_SECONDS": env_int("CRM_ALLOCATION_RECHECK_SECONDS", 60, env, minimum=1),
        # Rows per page of every list (hand-written lists and the admin pages alike).
        "CRM_PAGE_SIZE": env_int("CRM_PAGE_SIZE", 50, env, minimum=5),
        "CRM_DAILY_GRAB_LIMIT": env_int("CRM_DAILY_GRAB_LIMIT", 0, env, minimum=0),  # 0 = unlimited (S-17)
        # rooms: hourly slots start at FIRST..LAST hour; repeat bookings up to N weeks;
        # booked hours per user and day, 0 = no limit; how many days ahead one may book.
        "CRM_ROOM_FIRST_HOUR": room_first_hour,
        "CRM_ROOM_LAST_HOUR": room_last_hour,
        "CRM_ROOM_REPEAT_MAX_WEEKS": env_int("CRM_ROOM_REPEAT_MAX_WEEKS", 12, env, minimum=1),
        "CRM_ROOM_DAILY_HOURS_LIMIT": env_int("CRM_ROOM_DAILY_HOURS_LIMIT", 0, env, minimum=0),
        "CRM_ROOM_HORIZON_DAYS": env_int("CRM_ROOM_HORIZON_DAYS", 365, env, minimum=1),
        "CRM_UPLOAD_MAX_BYTES": env_int("CRM_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, env, minimum=1024),
        # S-9 imports: where uploaded workbooks live (default instance/imports), row limit,
        # rows per transaction, zip-bomb limits checked before anything is decompressed, and an
        # optional pause between batches to spare a busy database.
        "CRM_IMPORT_DIR": env.get("CRM_IMPORT_DIR", "").strip() or str(INSTANCE_DIR / "imports"),
        "CRM_IMPORT_MAX_ROWS": env_int("CRM_IMPORT_MAX_ROWS", 100_000, env, minimum=1),
        "CRM_IMPORT_BATCH_SIZE": env_int("CRM_IMPORT_BATCH_SIZE", 2000, env, minimum=1),
        "CRM_IMPORT_MAX_UNCOMPRESSED_BYTES": env_int("CRM_IMPORT_MAX_UNCOMPRESSED_BYTES", 512 * 1024 * 1024, env,
                                                     minimum=1024),
        "CRM_IMPORT_MAX_RATIO": env_int("CRM_IMPORT_MAX_RATIO", 200, env, minimum=1),
        "CRM_IMPORT_BATCH_PAUSE_MS": env_int("CRM_IMPORT_BATCH_PAUSE_MS", 0, env, minimum=0),
        # yes (default): a forked process reads and parses the next batches while the worker saves one
        # (crm.sales.imports.read_ahead; where the platform forks and more than one batch is left); no: in turn.
        "CRM_IMPORT_READ_AHEAD": env_bool("CRM_IMPORT_READ_AHEAD", True, env),
        # A queued/running import without a heartbeat (one per batch) for this long lost its worker: re-queued.
        "CRM_IMPORT_STALL_SECONDS": env_int("CRM_IMPORT_STALL_SECONDS", 120, env, minimum=10),
        # How often beat runs the sweepers that re-queue due e-mail and stalled imports (60: on every minute).
        "CRM_SWEEP_SECONDS": env_int("CRM_SWEEP_SECONDS", 60, env, minimum=1),
        "MAX_CONTENT_LENGTH": env_int("CRM_REQUEST_MAX_BYTES", 12 * 1024 * 1024, env, minimum=1024),
        # teaching
        "CRM_HOMEWORK_MAX_BYTES": env_int("CRM_HOMEWORK_MAX_BYTES", 5 * 1024 * 1024, env, minimum=1024),
        "CRM_HOMEWORK_TYPES": [
            kind.strip().lower()
            for kind in (env.get("CRM_HOMEWORK_TYPES") or "pdf,docx,xlsx,pptx,zip,png,jpg,txt").split(",")
            if kind.strip()
        ],
        "CRM_HOMEWORK_DIR": env.get("CRM_HOMEWORK_DIR", "").strip() or str(INSTANCE_DIR / "uploads" / "homework"),
        "CRM_ABSENCE_WARNING_AFTER": env_int("CRM_ABSENCE_WARNING_AFTER", 3, env, minimum=0),
        "MAIL_SERVER": env.get("MAIL_SERVER", "").strip() or "127.0.0.1",
        "MAIL_PORT": env_int("MAIL_PORT", 25, env, minimum=1),
        "MAIL_USERNAME": env.get("MAIL_USERNAME", "").strip() or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False, env),
        "MAIL_USE_SSL": env_bool("MAIL_USE_SSL", False, env),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "").strip() or "crm@localhost",
        "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 10, env, minimum=1),
        # S-21: a failed send is retried after BASE * 2**n seconds (capped at MAX) for WINDOW hours after it
        # was queued (a night without SMTP loses nothing); MAX_RETRIES > 0 also limits the count (0: no limit).
        "CRM_MAIL_MAX_RETRIES": env_int("CRM_MAIL_MAX_RETRIES", 0, env, minimum=0),
        "CRM_MAIL_RETRY_BASE_SECONDS": env_int("CRM_MAIL_RETRY_BASE_SECONDS", 30, env, minimum=1),
        "CRM_MAIL_RETRY_MAX_SECONDS": env_int("CRM_MAIL_RETRY_MAX_SECONDS", 900, env, minimum=1),
        "CRM_MAIL_RETRY_WINDOW_HOURS": env_int("CRM_MAIL_RETRY_WINDOW_HOURS", 24, env, minimum=1),
        # "smtp" sends through MAIL_SERVER; "file" writes .eml files to instance/mail/ (the
        # development default when MAIL_SERVER is unset, so `make run` mail is readable).
        "MAIL_BACKEND": mail_backend(env, crm_env),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": timezone,
        "CRM_LANGUAGES": ["zh_CN", "en"],
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted
        # (0: none). Behind nginx set 1, or login throttling sees every user as the proxy.
        "CRM_PROXY_HOPS": env_int("CRM_PROXY_HOPS", 0, env, minimum=0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", production, env),
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", production, env),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Days a "remember me" sign-in lasts (the cookie is renewed at each sign-in).
        "CRM_REMEMBER_DAYS": remember_days,
        "REMEMBER_COOKIE_DURATION": dt.timedelta(days=remember_days),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # Where users reach the app: links in e-mails sent by the worker and the nightly jobs.
        "CRM_PUBLIC_URL": (env.get("CRM_PUBLIC_URL", "").strip() or "http://localhost:5000").rstrip("/"),
        # surveys
        # Local hour (0-23) of the daily reminder to students who have not answered a survey closing soon.
        "CRM_SURVEY_REMINDER_HOUR": survey_reminder_hour,
    }
