"""Survey pages for staff: list, one-page editor, share, copy, results with charts, export (Q-1, Q-2, Q-4)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from crm.core import clock, listing, uow
from crm.core.access import permission_required
from crm.core.errors import Conflict, DomainError, Forbidden, Invalid
from crm.core.ids import is_id
from crm.core.menu import MenuItem, register_menu
from crm.extensions import db
from crm.org.models import ClassList
from crm.surveys import bp, results, services
from crm.surveys.answering import questions_of
from crm.surveys.forms import KIND_LABELS, ActionForm, CopyForm, OptionForm, QuestionForm, SurveyForm, to_field
from crm.surveys.models import Survey, as_utc

MANAGE, RESULTS = "surveys.manage", "surveys.results"


def register_surveys_menu(app: Flask) -> None:
    """Sidebar entries of the survey pages."""
    register_menu(app, "surveys", _l("Surveys"), 40, [
        MenuItem(_l("Surveys"), "surveys.index", RESULTS, order=1),
        MenuItem(_l("New survey"), "surveys.new", MANAGE, order=2),
        MenuItem(_l("My surveys"), "surveys.mine", "surveys.answer", order=3),
    ])


def survey_state(survey: Survey, now) -> tuple[str, str]:
    """(key, label) of where a survey stands: draft, upcoming, open or closed."""
    if survey.is_draft:
        return "draft", _("Draft")
    if now < as_utc(survey.opens_at):
        return "upcoming", _("Not open yet")
    if now < as_utc(survey.closes_at):
        return "open", _("Open for answers")
    return "closed", _("Closed")


bp.add_app_template_global(survey_state, "survey_state")
bp.add_app_template_global(listing.url_with, "url_with")


# -- list ---------------------------------------------------------------------------------------
@bp.route("/")
@permission_required(RESULTS, MANAGE)
def index():
    """The surveys this user made, tutors, or (directors) every survey; search by title."""
    query = listing.parse_list_query(request.args, sorts=("created", "closes", "title"), default_sort="-created")
    stmt = (sa.select(Survey).join(ClassList, ClassList.id == Survey.class_id)
            .where(services.visible_clause(current_user)).options(joinedload(Survey.class_list)))
    if query.search:
        stmt = stmt.where(Survey.title.contains(query.search, autoescape=True))
    columns = {"created": Survey.created_at, "closes": Survey.closes_at, "title": Survey.title}
    stmt = stmt.order_by(*listing.order_clauses(query, columns, Survey.id))
    page = listing.paginate(stmt, query)
    sizes = results.class_sizes({s.class_id for s in page.items}, clock.today())
    return render_template("surveys/index.html", page=page, query=query, now=clock.utcnow(), sizes=sizes)


# -- editor -------------------------------------------------------------------------------------
def _class_choices(user) -> list[SelectChoice]:
    return [SelectChoice(c.id, f"{c.display_name} · {c.school.title}") for c in services.creatable_classes(user)]


def _render_editor(form: SurveyForm, survey: Survey | None, status: int = 200):
    if survey is None or not survey.locked:
        form.add_blank_rows()
    return render_template(
        "surveys/edit.html", form=form, survey=survey, kind_labels=KIND_LABELS, now=clock.utcnow(),
        questions=questions_of(survey.id) if survey is not None else [], action_form=ActionForm(),
        blank_question=QuestionForm(prefix="questions-__Q__-"),
        blank_option=OptionForm(prefix="questions-__Q__-options-__O__-"),
    ), status


def _show_error(error: DomainError) -> None:
    db.session.rollback()
    flash(error.message, "danger")


@bp.route("/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def new():
    """Make a survey for one of one's classes: title, times and questions on one page (saved as a draft)."""
    form = SurveyForm()
    form.class_id.choices = _class_choices(current_user)
    if request.method == "GET":
        now = clock.now().replace(second=0, microsecond=0, tzinfo=None)
        form.opens_at.data = now
        form.closes_at.data = now.replace(hour=23, minute=59) + dt.timedelta(days=7)
        return _render_editor(form, None)
    if not form.validate_on_submit():
        return _render_editor(form, None, 400)
    class_id = form.class_id.data if isinstance(form.class_id.data, int) and is_id(form.class_id.data) else 0
    try:
        survey = services.create_survey(current_user, class_id, form.survey_data(with_questions=True),
                                        now=clock.utcnow())
    except DomainError as error:
        _show_error(error)
        return _render_editor(form, None, error.status_code if error.status_code != 404 else 400)
    uow.commit()
    flash(_("Survey saved as a draft. Share it with the class when it is ready."), "success")
    return redirect(url_for("surveys.edit", survey_id=survey.id))


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@permission_required(MANAGE)
def edit(survey_id: int):
    """The one-page editor: questions and options added, removed and reordered, saved in one transaction."""
    survey = services.managed_survey(current_user, survey_id)
    form = SurveyForm()
    if request.method == "GET":
        form.load(survey)
        return _render_editor(form, survey)
    if not form.validate_on_submit():
        return _render_editor(form, survey, 400)
    # A locked survey's page posts no question rows; a post that still carries some is refused.
    has_rows = any(name.startswith("questions-") for name in request.form)
    data = form.survey_data(with_questions=has_rows or not survey.locked)
    if survey.locked and "opens_at" not in request.form:
        data.opens_at = None
    if survey.locked and "anonymous" not in request.form:
        data.anonymous = None
    try:
        services.save_survey(current_user, survey.id, data, now=clock.utcnow())
    except DomainError as error:
        _show_error(error)
        survey = services.get_survey(survey_id)
        return _render_editor(form, survey, error.status_code)
    uow.commit()
    flash(_("Survey saved."), "success")
    return redirect(url_for("surveys.edit", survey_id=survey.id))


@bp.route("/<int:survey_id>/publish", methods=["POST"])
@permission_required(MANAGE)
def publish(survey_id: int):
    """Share a draft with its class."""
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "danger")
        return redirect(url_for("surveys.edit", survey_id=survey_id))
    try:
        services.publish_survey(current_user, survey_id, now=clock.utcnow())
    except (Conflict, Invalid) as error:
        _show_error(error)
        return redirect(url_for("surveys.edit", survey_id=survey_id))
    uow.commit()
    flash(_("The survey is shared: the class's students see it on their home page while it is open."), "success")
    return redirect(url_for("surveys.edit", survey_id=survey_id))


@bp.route("/<int:survey_id>/copy", methods=["GET", "POST"])
@permission_required(MANAGE)
def copy(survey_id: int):
    """Copy a survey's questions to another class as a new draft."""
    source = services.get_survey(survey_id)
    if not (services.may_manage(current_user, source) or services.may_see_results(current_user, source)):
        raise Forbidden(_("You may not copy this survey."))
    form = CopyForm()
    form.class_id.choices = _class_choices(current_user)
    if form.validate_on_submit():
        class_id = form.class_id.data if isinstance(form.class_id.data, int) and is_id(form.class_id.data) else 0
        try:
            survey = services.copy_survey(current_user, survey_id, class_id, now=clock.utcnow())
        except DomainError as error:
            _show_error(error)
            return render_template("surveys/copy.html", form=form, survey=source), error.status_code
        uow.commit()
        flash(_("Copied as a new draft: check the times, then share it."), "success")
        return redirect(url_for("surveys.edit", survey_id=survey.id))
    status = 400 if request.method == "POST" else 200
    return render_template("surveys/copy.html", form=form, survey=source), status


# -- results ------------------------------------------------------------------------------------
@bp.route("/<int:survey_id>/results")
@permission_required(RESULTS, MANAGE)
def results_page(survey_id: int):
    """Participation, statistics per question and charts (Q-4)."""
    survey = services.readable_survey(current_user, survey_id)
    now = clock.utcnow()
    outcome = results.survey_results(survey, now=now)
    return render_template("surveys/results.html", survey=survey, results=outcome, chart=outcome.chart_data(),
                           may_manage=services.may_manage(current_user, survey), now=now,
                           text_limit=results.TEXT_LIMIT, to_field=to_field)


@bp.route("/<int:survey_id>/export")
@permission_required(RESULTS, MANAGE)
def export(survey_id: int):
    """Every response as one .xlsx row (streamed; no names when anonymous)."""
    survey = services.readable_survey(current_user, survey_id)
    questions = questions_of(survey.id)
    headers = [f"{n}. {q.prompt}" for n, q in enumerate(questions, start=1)]
    if not survey.anonymous:
        headers.insert(0, _("Student"))
    return listing.xlsx_response(f"survey-{survey.id}.xlsx", headers, results.export_rows(survey, questions),
                                 sheet_title=_("Responses"))
