"""Survey pages for students: My surveys and the answer form (Q-3)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.core import clock, uow
from crm.core.access import permission_required
from crm.core.errors import Conflict
from crm.extensions import db
from crm.surveys import answering, bp
from crm.surveys.forms import ActionForm

ANSWER = "surveys.answer"


@bp.route("/mine")
@permission_required(ANSWER)
def mine():
    """The open surveys of the student's classes, answered or not."""
    return _render_mine()


def _render_mine(status: int = 200):
    now = clock.utcnow()
    is_student = answering.student_for_user(current_user.id) is not None
    surveys = answering.open_surveys_for(current_user.id, now) if is_student else []
    return render_template("surveys/mine.html", surveys=surveys, is_student=is_student), status


def _render_take(survey, form, errors=None, given=None, status: int = 200):
    return render_template(
        "surveys/take.html", survey=survey, form=form, questions=answering.questions_of(survey.id),
        errors=errors or {}, given=given or {}, text_min=answering.TEXT_MIN, text_max=answering.TEXT_MAX,
    ), status


@bp.route("/<int:survey_id>/answer", methods=["GET", "POST"])
@permission_required(ANSWER)
def take(survey_id: int):
    """Answer a survey of one's class while it is open, once; every question is required."""
    now = clock.utcnow()
    survey, student = answering.survey_for_student(current_user.id, survey_id, now)
    form = ActionForm()
    if request.method == "GET":
        if answering.has_answered(survey.id, student.id):
            flash(_("You have already answered this survey. Thank you!"), "info")
            return redirect(url_for("surveys.mine"))
        return _render_take(survey, form)
    given = answering.parse_form(request.form)
    if not form.validate_on_submit():
        flash(_("The form expired; please send it again."), "danger")
        return _render_take(survey, form, given=given, status=400)
    try:
        answering.submit_answers(current_user.id, survey.id, given, now=now)
    except answering.AnswerErrors as error:
        db.session.rollback()
        return _render_take(survey, form, errors=error.errors, given=given, status=422)
    except Conflict as error:
        db.session.rollback()
        flash(error.message, "warning")
        return _render_mine(status=409)
    uow.commit()
    flash(_("Thank you! Your answers are saved."), "success")
    return redirect(url_for("surveys.mine"))
