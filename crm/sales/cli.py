"""Sales commands: `flask crm reclaim`, `rebuild-allocation`, `import-leads` (P-8)."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from crm.extensions import db


@click.command("reclaim")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="Run as if today were this date.")
@with_appcontext
def reclaim_command(as_of):
    """Move expired leads to the public pool now (the nightly job, S-15)."""
    import datetime as dt

    from crm.core import clock
    from crm.sales.pool.reclaim import run_reclaim

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


@click.command("rebuild-allocation")
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


@click.command("import-leads")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", default=None, metavar="USER", help="User name recorded as the importer.")
@click.option("--sheet", default=None, metavar="NAME", help="Visible sheet to read (default: the active one).")
@click.option("--header-row", type=click.IntRange(min=1), default=None, metavar="N",
              help="Row holding the column headers (default: detected in the first rows).")
@click.option("--ignore-unknown", is_flag=True, help="Skip columns whose header is not an import column.")
@with_appcontext
def import_leads_command(file, username, sheet, header_row, ignore_unknown):
    """Import leads from an .xlsx file now, in this process (the background import's twin, S-9)."""
    from pathlib import Path

    from crm.auth.models import User
    from crm.core import uow
    from crm.core.errors import DomainError
    from crm.sales.imports.tasks import run_import
    from crm.sales.imports.workbook import create_job

    actor_id = None
    if username:
        actor_id = db.session.scalar(sa.select(User.id).where(User.username == username))
        if actor_id is None:
            raise click.ClickException(f"no user is called {username!r}")
    try:
        job = create_job(Path(file), Path(file).name, actor_id, keep_source=True, sheet=sheet,
                         header_row=header_row, ignore_unknown=ignore_unknown)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    uow.commit()
    click.echo(describe_choices(job))
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


def describe_choices(job) -> str:
    """The sheet, header row and column mapping a job reads, as the preview page shows them."""
    import json

    from crm.sales.imports.columns import COLUMNS_BY_KEY
    from crm.sales.imports.workbook import job_choices, job_workbook

    info = job_workbook(job_choices(job))
    others = [name for name in info.sheets if name != info.sheet_name]
    lines = [f"sheet: {info.sheet_name}" + (f" (other visible sheets: {', '.join(others)})" if others else ""),
             f"header row: {info.header_row}; rows: {job.total_rows}"]
    for header, key in zip(info.headers, json.loads(job.column_keys)):
        target = f"{COLUMNS_BY_KEY[key].zh} ({COLUMNS_BY_KEY[key].en})" if key else "ignored"
        lines.append(f"  {header or '(blank)'} -> {target}")
    return "\n".join(lines)


COMMANDS = (reclaim_command, rebuild_allocation_command, import_leads_command)
