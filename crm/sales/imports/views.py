"""Excel lead import pages (S-9): template, upload, live progress, error workbook, history."""
from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import HiddenField

from crm.core import uow
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.forms import CrmForm
from crm.core.listing import paginate, parse_list_query, url_with
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db
from crm.sales import bp
from crm.sales.imports.columns import COLUMNS, HEADER_SEARCH_ROWS, setting
from crm.sales.imports.report import write_error_workbook
from crm.sales.imports.rows import plain_text
from crm.sales.imports.template import build_template
from crm.sales.imports.workbook import (
    check_upload,
    create_job,
    error_workbook_path,
    human_size,
    inspect_workbook,
    job_choices,
    job_workbook,
    preview_rows,
    save_upload,
    too_large,
    upload_path,
    upload_token,
)
from crm.sales.leads.privacy import sees_all_leads
from crm.sales.models import ImportJob

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportUploadForm(CrmForm):
    """Upload one .xlsx workbook of leads."""

    file = FileField(_l("Excel workbook (.xlsx)"), validators=[FileRequired(_l("Choose an .xlsx file to upload."))])


def register_import_menu(app: Flask) -> None:
    """Sidebar entry of the import pages."""
    register_menu(app, "sales", _l("Sales"), 10,
                  [MenuItem(_l("Import leads"), "sales.import_new", "sales.lead.import")])


def _upload_limit() -> int:
    return setting("CRM_UPLOAD_MAX_BYTES")


def _render_upload(form: ImportUploadForm, status: int = 200):
    return render_template(
        "sales/import_new.html", form=form, columns=COLUMNS, limit=human_size(_upload_limit()),
        max_rows=setting("CRM_IMPORT_MAX_ROWS"),
    ), status


@bp.route("/imports/template.xlsx")
@permission_required("sales.lead.import")
def import_template():
    """Download the import template."""
    return send_file(io.BytesIO(build_template()), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="leads-import-template.xlsx")


@bp.route("/imports/new", methods=["GET", "POST"])
@permission_required("sales.lead.import")
def import_new():
    """Upload form: checks and stores the file, then shows its preview."""
    form = ImportUploadForm()
    if not form.validate_on_submit():
        return _render_upload(form, 400 if request.method == "POST" else 200)
    upload = form.file.data
    try:
        if request.content_length and request.content_length > _upload_limit() + 64 * 1024:
            raise too_large(_upload_limit())
        temp = save_upload(upload.stream, _upload_limit())
        check_upload(temp, upload.filename or "")
    except DomainError as error:
        form.file.errors = [error.message]
        return _render_upload(form, 400)
    token = upload_token(temp)
    pending = _pending_uploads() + [[token, Path(upload.filename or "").name[:255]]]
    for dropped, _name in pending[:-MAX_PENDING_UPLOADS]:  # older previews this user left unconfirmed
        old = upload_path(dropped)
        if old is not None:
            old.unlink(missing_ok=True)
    session[PENDING_UPLOADS] = pending[-MAX_PENDING_UPLOADS:]
    return redirect(url_for("sales.import_preview", token=token))


PENDING_UPLOADS = "import_uploads"  # session: [upload token, original file name], oldest first (this user's only)
MAX_PENDING_UPLOADS = 5


def _pending_uploads() -> list[list[str]]:
    pending = session.get(PENDING_UPLOADS)
    return [list(item) for item in pending] if isinstance(pending, list) else []


class ImportPreviewForm(CrmForm):
    """Confirm a preview: the sheet, header row and column mapping shown (the mapping comes as map-<n>)."""

    sheet = HiddenField()
    header_row = HiddenField()


def _choice(name: str) -> str | None:
    value = (request.values.get(name) or "").strip()
    return value or None


def _header_row_choice() -> int | None:
    value = _choice("header_row")
    return int(value) if value and value.isdigit() and 0 < int(value) <= 1_000_000 else None


def _mapping_choice(width: int) -> list[str | None] | None:
    if "map-0" not in request.form:
        return None
    return [request.form.get(f"map-{index}") or None for index in range(width)]


@bp.route("/imports/preview/<token>", methods=["GET", "POST"])
@permission_required("sales.lead.import")
def import_preview(token: str):
    """The preview of an upload (sheet, header row, column mapping, first rows); confirming starts the job."""
    filename = dict(map(tuple, _pending_uploads())).get(token)
    path = upload_path(token) if filename else None
    if path is None:
        abort(404)
    form = ImportPreviewForm()
    sheet, header_row = _choice("sheet"), _header_row_choice()
    error = None
    try:
        info = inspect_workbook(path, sheet=sheet, header_row=header_row, ignore_unknown=True, lenient=True)
    except DomainError as problem:
        info, error = None, problem.message
        if sheet or header_row:  # show the default choices again, with what went wrong
            try:
                info = inspect_workbook(path, ignore_unknown=True, lenient=True)
            except DomainError:
                info = None
    if request.method == "POST" and info is not None and error is None and form.validate_on_submit():
        from crm.sales.imports.tasks import enqueue_import, fail_job

        mapping = _mapping_choice(len(info.headers))
        try:
            job = create_job(path, filename, current_user.id, keep_source=True, sheet=info.sheet_name,
                             header_row=info.header_row, mapping=mapping, ignore_unknown=True)
        except DomainError as problem:
            db.session.rollback()
            error = problem.message
            info.keys = mapping or info.keys
            info.missing = [column.shown for column in COLUMNS if column.required and column.key not in info.keys]
        else:
            uow.commit()
            path.unlink(missing_ok=True)
            session[PENDING_UPLOADS] = [item for item in _pending_uploads() if item[0] != token]
            try:
                enqueue_import(job.id)
            except Exception:  # broker unreachable: say so instead of leaving a job queued forever
                current_app.logger.exception("could not queue import job %s", job.id)
                fail_job(job.id, _("The background worker could not be reached; nothing was imported. "
                                   "Try again later."))
            return redirect(url_for("sales.import_job", job_id=job.id))
    rows = []
    if info is not None:
        rows = [(number, [plain_text(value) if value is not None else "" for value in cells])
                for number, cells in preview_rows(path, info)]
    return render_template("sales/import_preview.html", form=form, token=token, filename=filename, info=info,
                           error=error, rows=rows, columns=COLUMNS,
                           search_rows=HEADER_SEARCH_ROWS), 400 if error else 200


def upload_too_large(error: RequestEntityTooLarge):
    """413 from MAX_CONTENT_LENGTH: on the upload page, say so next to the form."""
    if request.endpoint == "sales.import_new":
        form = ImportUploadForm(formdata=None)
        form.file.errors = [too_large(min(_upload_limit(), current_app.config.get("MAX_CONTENT_LENGTH") or
                                          _upload_limit())).message]
        return _render_upload(form, 413)
    return render_template("errors/error.html", status=413, title=_("Too large"),
                           message=_("The upload or request is larger than allowed.")), 413


bp.register_error_handler(RequestEntityTooLarge, upload_too_large)


def _visible_job(job_id: int) -> ImportJob:
    job = db.get_or_404(ImportJob, job_id)
    if job.created_by_id != current_user.id and not sees_all_leads(current_user):
        abort(403)  # an import's rows and error workbook hold lead contacts (S-11)
    return job


def _progress(job: ImportJob) -> dict:
    total = job.total_rows or 0
    done = job.status in ("done", "failed")
    percent = 100 if job.status == "done" else (int(job.processed_rows * 100 / total) if total else 0)
    return {
        "id": job.id, "status": job.status, "processed": job.processed_rows, "total": total,
        "percent": min(percent, 100), "imported": job.imported, "duplicates": job.duplicates,
        "invalid": job.invalid, "unassigned": job.unassigned, "finished": done, "message": job.message or "",
        "errors_url": url_for("sales.import_errors", job_id=job.id) if (job.invalid or job.duplicates) and done
        else None,
    }


@bp.route("/imports/<int:job_id>")
@permission_required("sales.lead.import", "sales.lead.view_all")
def import_job(job_id: int):
    """One import: live progress bar and final summary."""
    job = _visible_job(job_id)
    return render_template("sales/import_job.html", job=job, progress=_progress(job))


@bp.route("/imports/<int:job_id>/progress")
@permission_required("sales.lead.import", "sales.lead.view_all")
def import_progress(job_id: int):
    """Progress of one import as JSON (polled by the job page every second)."""
    response = jsonify(_progress(_visible_job(job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/imports/<int:job_id>/errors.xlsx")
@permission_required("sales.lead.import", "sales.lead.view_all")
def import_errors(job_id: int):
    """Download the rejected rows of an import with their original values and the reason."""
    job = _visible_job(job_id)
    if not (job.invalid or job.duplicates):
        abort(404)
    path = Path(job.error_path) if job.error_path else error_workbook_path(job.id)
    if not path.exists():  # a failed job, or the file was cleaned up: build it from the table
        try:
            headers = job_workbook(job_choices(job)).headers
        except (DomainError, OSError):
            headers = [column.header for column in COLUMNS]
        write_error_workbook(job.id, headers, path)
    return send_file(path, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"import-{job.id}-errors.xlsx")


@bp.route("/imports/")
@permission_required("sales.lead.import", "sales.lead.view_all")
def import_history():
    """Past imports: one's own, or everyone's with sales.lead.view_all."""
    query = sa.select(ImportJob).options(joinedload(ImportJob.created_by)).order_by(
        ImportJob.created_at.desc(), ImportJob.id.desc())
    see_all = sees_all_leads(current_user)
    if not see_all:
        query = query.where(ImportJob.created_by_id == current_user.id)
    page = paginate(query, parse_list_query(request.args, sorts=("created",), default_sort="-created"))
    return render_template("sales/import_history.html", page=page, see_all=see_all, url_with=url_with)
