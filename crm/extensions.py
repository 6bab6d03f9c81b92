"""Unbound extension objects; create_app binds them to the application."""
from __future__ import annotations

import redis as redis_lib
from flask import Flask, current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraints get stable, predictable names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RedisClient:
    """A lazily created redis-py client bound to the app's REDIS_URL."""

    def init_app(self, app: Flask) -> None:
        """Remember the URL; the connection pool is created on first use."""
        app.extensions["crm_redis"] = redis_lib.Redis.from_url(
            app.config["REDIS_URL"],
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )

    @property
    def client(self) -> redis_lib.Redis:
        """The client of the current application."""
        return current_app.extensions["crm_redis"]

    def key(self, *parts: object) -> str:
        """A namespaced key: '<prefix>:part:part'."""
        return ":".join([current_app.config["CRM_REDIS_PREFIX"], *map(str, parts)])

    def __getattr__(self, name: str):
        return getattr(self.client, name)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
redis = RedisClient()
