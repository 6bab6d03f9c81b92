"""Classes, sessions, roster, batch initialise and exports (T-1, T-3, T-9)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from crm.core import clock, uow
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.forms import show_domain_error
from crm.core.listing import order_clauses, paginate, parse_list_query, url_with, xlsx_response
from crm.extensions import db
from crm.org.models import ClassList, Course, School
from crm.teaching import bp, records, rules, services
from crm.teaching.forms import PostForm, SessionForm

CLASS_SORTS = {"start": ClassList.start_date, "course": (Course.name, ClassList.semester), "school": School.title}


@bp.route("/", endpoint="my_classes")
@permission_required("teaching.session.view")
def my_classes():
    """The classes the user teaches or tutors (all of them for directors): search, sort, pages."""
    query = parse_list_query(request.args, sorts=CLASS_SORTS, default_sort="-start")
    stmt = rules.visible_classes_stmt(current_user).join(Course, Course.id == ClassList.course_id) \
        .join(School, School.id == ClassList.school_id)
    search = query.search.replace("\x00", "")  # PostgreSQL refuses NUL in text; it means nothing here
    if search:
        like = f"%{search}%"
        stmt = stmt.where(sa.or_(Course.name.like(like), School.title.like(like)))
    stmt = stmt.order_by(None).order_by(*order_clauses(query, CLASS_SORTS, ClassList.id))
    page = paginate(stmt.options(selectinload(ClassList.teachers), joinedload(ClassList.tutor)), query)
    return render_template("teaching/my_classes.html", page=page, query=query, url_with=url_with,
                           sees_all=rules.sees_all(current_user))


@bp.route("/classes/<int:class_id>/", endpoint="class_sessions")
@permission_required("teaching.session.view")
def class_sessions(class_id: int):
    """A class's sessions with record counts; initialise selected sessions from here (T-1, T-3)."""
    klass = rules.class_for(current_user, class_id)
    return render_template("teaching/class_sessions.html", klass=klass, sessions=services.sessions_of(klass.id),
                           form=PostForm())


@bp.route("/classes/<int:class_id>/roster", endpoint="roster")
@permission_required("teaching.student.view")
def roster(class_id: int):
    """Everyone ever enrolled in the class, with join and leave dates."""
    klass = rules.class_for(current_user, class_id)
    return render_template("teaching/roster.html", klass=klass, enrolments=services.roster(klass.id))


def _teacher_choices(klass) -> list[tuple[str, str]]:
    return [("", _("— choose —"))] + [(str(t.id), t.name) for t in klass.teachers]


@bp.route("/classes/<int:class_id>/sessions/new", methods=["GET", "POST"], endpoint="session_create")
@permission_required("teaching.session.edit")
def session_create(class_id: int):
    """Add a session to a class the user teaches (T-1)."""
    klass = rules.class_for(current_user, class_id)
    form = SessionForm()
    form.teacher_id.choices = _teacher_choices(klass)
    if request.method == "GET":
        form.session_no.data = str(services.next_session_no(klass.id))
        form.held_on.data = clock.today().isoformat()
        if current_user in klass.teachers:
            form.teacher_id.data = str(current_user.id)
    if form.validate_on_submit():
        try:
            session = services.save_session(current_user, klass.id, form.data)
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return render_template("teaching/session_form.html", form=form, klass=klass, session=None), 422
        uow.commit()
        flash(_("Session %(n)s saved.", n=session.session_no), "success")
        return redirect(url_for("teaching.class_sessions", class_id=klass.id))
    status = 400 if request.method == "POST" else 200
    return render_template("teaching/session_form.html", form=form, klass=klass, session=None), status


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"], endpoint="session_edit")
@permission_required("teaching.session.edit")
def session_edit(session_id: int):
    """Edit a session of a class the user teaches (T-1)."""
    session = services.session_for(current_user, session_id)
    klass = session.class_list
    form = SessionForm(obj=None if request.method == "POST" else session)
    form.teacher_id.choices = _teacher_choices(klass)
    if request.method == "GET":
        form.session_no.data = str(session.session_no)
        form.held_on.data = session.held_on.isoformat()
        form.teacher_id.data = str(session.teacher_id or "")
    if form.validate_on_submit():
        try:
            services.save_session(current_user, klass.id, form.data, session_id=session.id)
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return render_template("teaching/session_form.html", form=form, klass=klass, session=session), 422
        uow.commit()
        flash(_("Session %(n)s saved.", n=form.session_no.data), "success")
        return redirect(url_for("teaching.class_sessions", class_id=klass.id))
    status = 400 if request.method == "POST" else 200
    return render_template("teaching/session_form.html", form=form, klass=klass, session=session), status


@bp.route("/classes/<int:class_id>/initialise", methods=["POST"], endpoint="initialise")
@permission_required("teaching.attendance")
def initialise(class_id: int):
    """Bulk action: create the missing study records of the selected sessions (T-3)."""
    klass = rules.class_for(current_user, class_id)
    form = PostForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return redirect(url_for("teaching.class_sessions", class_id=klass.id))
    try:
        added = services.initialise_records(current_user, request.form.getlist("session_ids"), now=clock.utcnow(),
                                            class_id=klass.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("teaching.class_sessions", class_id=klass.id))
    uow.commit()
    flash(_("%(n)s study records created.", n=added), "success")
    return redirect(url_for("teaching.class_sessions", class_id=klass.id))


@bp.route("/classes/<int:class_id>/attendance.xlsx", endpoint="export_attendance")
@permission_required("teaching.session.view")
def export_attendance(class_id: int):
    """The class's attendance sheet (student × session), streamed .xlsx."""
    klass = rules.class_for(current_user, class_id)
    headers, rows = records.sheet_rows(klass.id, "attendance")
    return xlsx_response(f"attendance-class-{klass.id}.xlsx", headers, rows, sheet_title=_("Attendance"))


@bp.route("/classes/<int:class_id>/grades.xlsx", endpoint="export_grades")
@permission_required("teaching.session.view")
def export_grades(class_id: int):
    """The class's grade sheet (student × session), streamed .xlsx."""
    klass = rules.class_for(current_user, class_id)
    headers, rows = records.sheet_rows(klass.id, "grade")
    return xlsx_response(f"grades-class-{klass.id}.xlsx", headers, rows, sheet_title=_("Grades"))
