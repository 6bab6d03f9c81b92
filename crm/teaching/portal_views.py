"""The student portal and homework files (T-7, T-8, T-9)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.core import clock, uow
from crm.core.access import permission_required
from crm.core.areas import home_panels
from crm.core.errors import DomainError
from crm.extensions import db
from crm.students.services import student_for_user
from crm.teaching import bp, grades, homework, portal
from crm.teaching.forms import HomeworkForm


def _render_portal(student, *, own: bool, status: int = 200):
    classes = portal.progress(current_user, student) if student is not None else []
    return render_template(
        "teaching/portal.html", student=student, classes=classes, own=own, attendance=grades.ATTENDANCE,
        panels=home_panels(current_app, current_user) if own else [], form=HomeworkForm(),
        label_grades=grades.LABEL_GRADES,
    ), status


@bp.route("/portal", endpoint="portal")
@permission_required("teaching.portal")
def portal_home():
    """The student's own portal and start page: classes, grades chart, attendance, records, homework (T-8)."""
    return _render_portal(student_for_user(current_user.id), own=True)


@bp.route("/students/<int:student_id>/", endpoint="student_portal")
@permission_required("teaching.student.view")
def student_portal(student_id: int):
    """The same portal for a student of the viewer's classes (teachers, tutors, directors)."""
    student = portal.student_or_404(student_id)
    portal.ensure_may_view(current_user, student)
    return _render_portal(student, own=False)


@bp.route("/records/<int:record_id>/homework", methods=["POST"], endpoint="homework_upload")
@permission_required("teaching.portal")
def homework_upload(record_id: int):
    """A student hands in or replaces homework for one of their sessions (T-7)."""
    form = HomeworkForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return redirect(url_for("teaching.portal"))
    upload = form.file.data
    try:
        homework.submit_homework(
            current_user, record_id, getattr(upload, "stream", None), getattr(upload, "filename", None),
            form.memo.data, now=clock.utcnow(),
        )
    except DomainError as error:
        db.session.rollback()
        if error.status_code in (403, 404):
            raise
        flash(error.message, "danger")
        return redirect(url_for("teaching.portal") + f"#record-{record_id}")
    uow.commit()
    flash(_("Homework handed in."), "success")
    return redirect(url_for("teaching.portal") + f"#record-{record_id}")


@bp.route("/records/<int:record_id>/homework", methods=["GET"], endpoint="homework_download")
@permission_required("teaching.portal", "teaching.session.view")
def homework_download(record_id: int):
    """A homework file, for the student who handed it in and the staff of the class (T-7, T-9)."""
    path, name, mimetype = homework.homework_file(current_user, record_id)
    response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
