"""Campus CRM application factory."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, request, session

from crm.config import INSTANCE_DIR, load_config

# The areas, in the order they plug in (crm.core.areas). Adding an area = a package with
# init_app(app) + one line here.
AREAS = (
    "crm.core",
    "crm.auth",
    "crm.org",
    "crm.students",
    "crm.sales",
    "crm.teaching",
    "crm.api",
    "crm.notifications",
    "crm.rooms",
    "crm.surveys",
)


def create_app(config: dict | None = None, *, areas: tuple[str, ...] = AREAS) -> Flask:
    """Build the Flask application; `config` overrides values read from the environment."""
    from crm.core import reconnect

    # CrmFlask: a request that lost its database connection before writing is served again (16.4).
    app = reconnect.CrmFlask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    reconnect.init_app(app)
    app.config.update(load_config())
    if config:
        app.config.update(config)
    register_logging(app)
    register_url_converters(app)
    register_proxy(app)
    register_extensions(app)
    register_areas(app, areas)
    register_access(app)
    register_input_guard(app)
    register_submit_once(app)
    register_templates(app)
    register_security_headers(app)
    register_cli(app)
    register_celery(app)
    return app


def register_url_converters(app: Flask) -> None:
    """`<int:...>` in every route refuses numbers no row can have (404, not a database error)."""
    from crm.core.ids import BoundedIntConverter

    app.url_map.converters["int"] = BoundedIntConverter


def register_logging(app: Flask) -> None:
    """Log to stderr at INFO outside tests (gunicorn and Celery collect it), each line once, with its request id.

    Records go to the root logger only: Flask's own handler on the app logger would print every
    `crm.*` line a second time wherever the root has a handler too (the Celery worker's).
    """
    from crm.core.logs import configure_handler, init_request_ids

    init_request_ids(app)
    if app.config["TESTING"]:
        return
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    root = logging.getLogger()
    if not root.handlers:
        root.setLevel(logging.INFO)
        root.addHandler(configure_handler(logging.StreamHandler(), app.config["CRM_LOG_FORMAT"]))


def register_proxy(app: Flask) -> None:
    """Behind CRM_PROXY_HOPS reverse proxies, take the client address and scheme from them."""
    hops = app.config.get("CRM_PROXY_HOPS") or 0
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extension objects."""
    from crm.extensions import babel, csrf, db, include_object, login_manager, migrate, redis

    db.init_app(app)
    register_sqlite_tuning(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True,
                    include_object=include_object)
    csrf.init_app(app)
    redis.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please sign in to open this page.")

    @login_manager.user_loader
    def load_user(user_id: str):
        from crm.auth.sessions import user_for_token

        return user_for_token(user_id)

    from babel import Locale

    # Parsed once: Flask-Babel parses whatever the selector returns on every request unless it is
    # a Locale already, and parsing a name scans babel's whole list of locale names.
    parsed = {code: Locale.parse(code) for code in {*app.config["CRM_LANGUAGES"], app.config["BABEL_DEFAULT_LOCALE"]}}

    def select_locale():
        from flask import has_request_context
        from flask_login import current_user

        if not has_request_context():
            return parsed[app.config["BABEL_DEFAULT_LOCALE"]]
        choices = app.config["CRM_LANGUAGES"]
        chosen = session.get("locale")
        if chosen in choices:
            return parsed[chosen]
        if current_user and current_user.is_authenticated and current_user.locale in choices:
            return parsed[current_user.locale]
        return parsed[app.config["BABEL_DEFAULT_LOCALE"]]

    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")

    from flask_babel import get_locale

    @app.before_request
    def choose_locale_before_the_view():
        """The request's language is chosen before its view runs. Chosen on the first message after a
        commit (a view's flash), it would read the user's language from a row the commit expired: one
        more SELECT, in a transaction that then ends with ROLLBACK, which makes psycopg forget the
        statements it prepared on that connection (crm.core.uow)."""
        if request.endpoint != "static":
            get_locale()


def register_sqlite_tuning(app: Flask) -> None:
    """SQLite: enforce foreign keys, wait on locks, and let SQLAlchemy own BEGIN.

    pysqlite's own transaction handling breaks SAVEPOINT; emitting BEGIN
    ourselves is SQLAlchemy's documented fix.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    import sqlalchemy as sa

    from crm.extensions import db

    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN")


def register_areas(app: Flask, areas: tuple[str, ...]) -> None:
    """Plug in every area: tables, blueprints, menus, admin, tasks, CLI, demo data."""
    from crm.core.areas import init_areas

    init_areas(app, areas)


def register_access(app: Flask) -> None:
    """Enforce every endpoint's access declaration before the view runs."""
    from crm.core.access import PUBLIC, declare_endpoint, enforce_access

    declare_endpoint(app, "static", PUBLIC)
    app.before_request(enforce_access)


def register_input_guard(app: Flask) -> None:
    """Every query parameter, form value and JSON string passes one guard before anything else."""
    from crm.core.input_guard import init_input_guard

    init_input_guard(app)


def register_submit_once(app: Flask) -> None:
    """A form sent twice, or by two requests at once, is saved once (crm/core/once.py)."""
    from crm.core.once import init_submit_once

    init_submit_once(app)


def register_templates(app: Flask) -> None:
    """Template globals: permission checks, the menu, local dates."""
    from crm.core import clock
    from crm.core.access import can
    from crm.core.listing import option_list, row_urls
    from crm.core.menu import sidebar_links, visible_menu
    app.jinja_env.globals.update(can=can, visible_menu=visible_menu, sidebar_links=sidebar_links, row_urls=row_urls,
                                 option_list=option_list, today=clock.today)

    @app.template_filter("localdt")
    def localdt(value, fmt: str = "%Y-%m-%d %H:%M"):
        local = clock.to_local(value)
        return local.strftime(fmt) if local else ""

    @app.context_processor
    def inject_locale():
        from flask_babel import get_locale

        return {"current_locale": str(get_locale()), **bound_gettext()}


def bound_gettext() -> dict:
    """`gettext`/`ngettext` for one rendering, bound to the catalogue of the locale it renders in.

    Flask-Babel's template callables look the request's locale and catalogue up again on each
    `_()` (a hundred and more per page); the catalogue cannot change during one rendering, so it
    is looked up once here (a context processor runs for every render_template, inside
    force_locale too). Same output as Jinja's newstyle gettext: escaped for autoescaped
    templates and always %-formatted.
    """
    from flask_babel import get_translations
    from jinja2 import pass_context
    from markupsafe import Markup

    translations = get_translations()
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context, string, **variables):
        text = ugettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        if not variables and "%" not in text:
            return text  # nothing to format: the same text `text % {}` gives, without the formatting pass
        return text % variables

    @pass_context
    def ngettext(context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        text = ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}


def register_security_headers(app: Flask) -> None:
    """Security headers on every response (crm/core/security.py)."""
    from crm.core.security import init_security_headers

    init_security_headers(app)

    from crm.core.errors import register_error_pages

    register_error_pages(app)


def register_cli(app: Flask) -> None:
    """`flask crm ...` commands."""
    from crm.cli import build_cli

    app.cli.add_command(build_cli(app))


def register_celery(app: Flask) -> None:
    """Create the Celery app bound to this Flask app."""
    from crm.celery_app import celery_init_app

    celery_init_app(app)
