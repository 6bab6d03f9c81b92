"""A session's records: the attendance grid, bulk attendance and score entry (T-4, T-5, T-6)."""
from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.core import clock, once, uow
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.ids import is_id
from crm.extensions import db
from crm.teaching import bp, grades, records
from crm.teaching.forms import PostForm
from crm.teaching.services import session_for

ROW_FIELD = re.compile(r"^(grade|note|status)-([0-9]{1,12})$")


def _session_page(session, rows, form, *, errors=None, values=None, status=200):
    return render_template(
        "teaching/session_detail.html", session=session, klass=session.class_list, records=rows, form=form,
        attendance=grades.ATTENDANCE, errors=errors or {}, values=values or {},
    ), status


@bp.route("/sessions/<int:session_id>/", endpoint="session_detail")
@permission_required("teaching.session.view")
def session_detail(session_id: int):
    """A session's records: attendance grid, bulk attendance, who handed in homework."""
    session = session_for(current_user, session_id)
    return _session_page(session, records.records_of_session(session.id), PostForm())


def _back(session_id: int):
    return redirect(url_for("teaching.session_detail", session_id=session_id))


@bp.route("/sessions/<int:session_id>/attendance", methods=["POST"], endpoint="attendance_bulk")
@permission_required("teaching.attendance")
def attendance_bulk(session_id: int):
    """One status for the selected records, or for the whole session (T-4)."""
    session = session_for(current_user, session_id)
    form = PostForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return _back(session.id)
    whole = request.form.get("scope") == "all"
    selected = None if whole else request.form.getlist("record_ids")
    try:
        changed = records.set_attendance(current_user, session.id, request.form.get("bulk_status", ""),
                                         selected, today=clock.today())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _back(session.id)
    uow.commit()
    flash(_("Attendance saved for %(n)s students.", n=changed), "success")
    return _back(session.id)


@bp.route("/sessions/<int:session_id>/attendance/grid", methods=["POST"], endpoint="attendance_grid")
@permission_required("teaching.attendance")
def attendance_grid(session_id: int):
    """The per-row attendance grid (T-4): every row's status in one transaction."""
    session = session_for(current_user, session_id)
    form = PostForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return _back(session.id)
    statuses = {}
    for key in request.form:
        match = ROW_FIELD.match(key)
        if match and match.group(1) == "status":
            statuses[match.group(2)] = request.form.get(key)
    try:
        changed = records.set_attendance_grid(current_user, session.id, statuses, today=clock.today())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _back(session.id)
    uow.commit()
    flash(_("Attendance saved for %(n)s students.", n=changed), "success")
    return _back(session.id)


def parse_score_form(form) -> dict[int, records.ScoreEntry]:
    """Score entry's form → entries; any other field, a repeated field or an impossible id → 403.

    Only ``grade-<id>`` and ``note-<id>`` (and the CSRF and submit-once tokens) may be posted:
    a crafted field (``score-5``, ``attendance-5``, ``student_id``) refuses the
    whole post and nothing is saved (T-5).
    """
    entries: dict[int, records.ScoreEntry] = {}
    for key in form:
        if key in ("csrf_token", once.FIELD):
            continue
        match = ROW_FIELD.match(key)
        if not match or match.group(1) == "status" or len(form.getlist(key)) != 1:
            abort(403)
        record_id = int(match.group(2))
        if not is_id(record_id):
            abort(403)
        entry = entries.setdefault(record_id, records.ScoreEntry())
        if match.group(1) == "grade":
            entry.grade = form.get(key)
        else:
            entry.homework_note = form.get(key)
    return entries


@bp.route("/sessions/<int:session_id>/scores", methods=["GET", "POST"], endpoint="scores")
@permission_required("teaching.score")
def scores(session_id: int):
    """Score entry (录入成绩): grade and homework note of every student, saved in one transaction (T-5)."""
    session = session_for(current_user, session_id)
    form = PostForm()
    errors, values = {}, {}
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form expired; please try again."), "danger")
            return redirect(url_for("teaching.scores", session_id=session.id))
        entries = parse_score_form(request.form)
        try:
            changed = records.enter_scores(current_user, session.id, entries, now=clock.utcnow())
        except DomainError as error:
            db.session.rollback()
            if error.status_code == 403:
                raise
            errors = getattr(error, "errors", None) or {error.field or "": error.message}
            values = {key: request.form.get(key) for key in request.form}
            flash(_("Nothing was saved; please correct the marked rows."), "danger")
            session = session_for(current_user, session_id)
        else:
            uow.commit()
            flash(_("Scores saved (%(n)s grades changed).", n=changed), "success")
            return redirect(url_for("teaching.scores", session_id=session.id))
    rows = records.records_of_session(session.id)
    return render_template(
        "teaching/scores.html", session=session, klass=session.class_list, records=rows, form=form,
        grades=grades, errors=errors, values=values, attendance=grades.ATTENDANCE,
    ), (422 if errors else 200)
