"""`flask --app wsgi crm ...` commands (P-8)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from crm.extensions import db


@click.group("crm")
def crm_cli():
    """Campus CRM administration commands."""


@crm_cli.command("sync-rbac")
@with_appcontext
def sync_rbac_command():
    """Write new permission codes, default roles and seed departments."""
    from crm.auth.services import seed_departments, sync_rbac

    result = sync_rbac()
    departments = seed_departments()
    db.session.commit()
    click.echo(
        f"permissions added: {result['permissions_added']}, roles added: {result['roles_added']}, "
        f"departments added: {departments}"
    )


@crm_cli.command("create-admin")
@click.option("--username", prompt=True, help="Sign-in name of the administrator.")
@click.option("--name", default=None, help="Display name (defaults to the user name).")
@click.option("--email", default=None)
@click.password_option(help="Password (asked twice when not given).")
@with_appcontext
def create_admin_command(username, name, email, password):
    """Create an administrator account."""
    from crm.auth.services import create_user, seed_departments, sync_rbac
    from crm.core.errors import DomainError

    sync_rbac()
    seed_departments()
    try:
        user, _ = create_user(
            None, username=username, name=name or username, email=email, password=password,
            role_names=["admin"], must_change_password=False,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"administrator {user.username} created (id {user.id})")


@crm_cli.command("seed-demo")
@click.option("--password", default="demo1234", show_default=True, help="Password of every demo account.")
@with_appcontext
def seed_demo_command(password):
    """Load realistic demo data once (does nothing when it is already there)."""
    from crm.demo import seed_demo

    created = seed_demo(password=password)
    db.session.commit()
    if created:
        click.echo("demo data loaded; demo accounts (password: %s):" % password)
    else:
        click.echo("demo data already present; demo accounts:")
    from crm.demo import DEMO_ACCOUNTS

    for username, _name, role, _dept in DEMO_ACCOUNTS:
        click.echo(f"  {username:<12} {role}")


def _check_database() -> str:
    import sqlalchemy as sa

    db.session.execute(sa.text("SELECT 1"))
    version = db.session.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
    db.session.rollback()
    return f"{db.engine.dialect.name}, schema at {', '.join(sorted(version)) or 'no migration'}"


def _check_redis() -> str:
    from crm.extensions import redis

    redis.client.ping()
    return "answers PING"


def _check_broker() -> str:
    from flask import current_app

    celery_app = current_app.extensions["celery"]
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
        return f"{connection.as_uri()} reachable"


def _check_smtp() -> str:
    from flask import current_app

    from crm.notifications.tasks import smtp_session

    config = current_app.config
    if config.get("MAIL_BACKEND") == "file":
        return "MAIL_BACKEND=file: messages are written to instance/mail/, nothing is sent"
    with smtp_session() as client:
        client.noop()
    return f"{config['MAIL_SERVER']}:{config['MAIL_PORT']} accepts a session"


CHECKS = (("database", _check_database), ("redis", _check_redis), ("broker", _check_broker),
          ("smtp", _check_smtp))


@crm_cli.command("check")
@with_appcontext
def check_command():
    """Validate the configuration and every connection (database, Redis, broker, SMTP): one verdict per item."""
    from flask import current_app

    # The configuration was validated when the app was built (crm.config raises ConfigError on bad values).
    config = current_app.config
    click.echo(f"OK    configuration  CRM_ENV={config['CRM_ENV']}, MAIL_BACKEND={config['MAIL_BACKEND']}")
    failed = 0
    for name, check in CHECKS:
        try:
            detail = check()
        except Exception as error:  # noqa: BLE001 - every failure is a verdict, with its reason
            failed += 1
            click.echo(f"FAIL  {name:<13}  {type(error).__name__}: {error}")
        else:
            click.echo(f"OK    {name:<13}  {detail}")
    if failed:
        raise click.ClickException(f"{failed} check(s) failed")
    click.echo("all checks passed")


def build_cli(app) -> click.Group:
    """The `crm` command group of this app: the core commands plus every area's (crm.core.areas)."""
    from crm.core.areas import commands

    group = click.Group("crm", help=crm_cli.help, commands=dict(crm_cli.commands))
    for command in commands(app):
        group.add_command(command)
    return group
