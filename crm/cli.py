"""`flask --app wsgi crm ...` commands (P-8)."""
from __future__ import annotations

import click
import sqlalchemy as sa
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


@crm_cli.command("reclaim")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="Run as if today were this date.")
@with_appcontext
def reclaim_command(as_of):
    """Move expired leads to the public pool now (the nightly job, S-15)."""
    import datetime as dt

    from crm.core import clock
    from crm.sales.reclaim import run_reclaim

    try:
        today = dt.date.fromisoformat(as_of.strip()) if as_of else clock.today()
    except ValueError:
        raise click.BadParameter(f"{as_of!r} is not a date; use YYYY-MM-DD.", param_hint="--as-of") from None
    result = run_reclaim(today)
    if result.skipped:
        raise click.ClickException("another reclaim run is still in progress; try again later")
    click.echo(f"reclaim {today}: {result.total} lead(s) moved to the public pool")
    for consultant_id, reasons in sorted(result.per_consultant.items()):
        click.echo(f"  consultant {consultant_id}: {sum(reasons.values())}")


@crm_cli.command("rebuild-allocation")
@click.option("--keep-position", is_flag=True, help="Keep the place in the cycle when the table did not change.")
@with_appcontext
def rebuild_allocation_command(keep_position):
    """Rebuild the lead allocation queue from the allocation table now (S-6)."""
    from crm.sales.allocation import cycle_preview, rebuild

    length = rebuild(new_cycle=not keep_position)
    if length == 0:
        click.echo("no eligible consultant: new leads go to the public pool unassigned")
        return
    click.echo(f"allocation queue rebuilt: {length} slot(s) per cycle")
    click.echo("next: " + " ".join(str(user_id) for user_id in cycle_preview(min(length, 20))))


@crm_cli.command("import-leads")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default=None, metavar="USER", help="User name recorded as the importer.")
@with_appcontext
def import_leads_command(file, username):
    """Import leads from an .xlsx file now, in this process (the background import's twin, S-9)."""
    from pathlib import Path

    from crm.auth.models import User
    from crm.core.errors import DomainError
    from crm.sales.import_tasks import run_import
    from crm.sales.imports import create_job

    actor_id = None
    if username:
        actor_id = db.session.scalar(sa.select(User.id).where(User.username == username))
        if actor_id is None:
            raise click.ClickException(f"no user is called {username!r}")
    try:
        job = create_job(Path(file), Path(file).name, actor_id, keep_source=True)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    with click.progressbar(length=max(job.total_rows, 1), label=f"import #{job.id}") as bar:
        shown = [0]

        def progress(done: int, _total: int) -> None:
            bar.update(done - shown[0])
            shown[0] = done

        job = run_import(job.id, progress=progress)
    click.echo(f"import #{job.id} {job.status}: {job.imported} imported, {job.duplicates} duplicates, "
               f"{job.invalid} invalid, {job.unassigned} unassigned")
    if job.error_path:
        click.echo(f"rejected rows: {job.error_path}")
    if job.status != "done":
        raise click.ClickException(job.message or "the import did not finish")
