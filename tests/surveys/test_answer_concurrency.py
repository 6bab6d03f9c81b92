"""A concurrent double submit (real threads, PostgreSQL) stores one response (Q-3, §6)."""
from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa

from crm.core.errors import Conflict
from crm.extensions import db
from crm.surveys import answering
from crm.surveys.models import Answer, Participation, Response, Survey
from tests.concurrency import run_threads
from tests.surveys.helpers import good_answers, make_survey, make_tutored_class, now, said

THREADS = 8


@pytest.mark.committing
@pytest.mark.parametrize("anonymous", [False, True])
@pytest.mark.parametrize("skip_early_check", [False, True])
def test_simultaneous_submits_by_one_student_store_one_response(app, clean_database, monkeypatch, anonymous,
                                                                skip_early_check):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers with a database lock and refuses a second writer "
                        "(database is locked) instead of waiting on a row; the rule is proven on PostgreSQL")
        tutor, klass, (student, *_rest) = make_tutored_class(2)
        survey = make_survey(tutor, klass, anonymous=anonymous)
        survey_id, user_id = survey.id, student.user_id
        answers = good_answers(survey)
        db.session.remove()
    if skip_early_check:  # everyone reaches the INSERT: the unique constraint alone decides
        monkeypatch.setattr(answering, "has_answered", lambda survey_id, student_id: False)
    at = now()
    results = run_threads(app, THREADS, lambda i: answering.submit_answers(user_id, survey_id, answers, now=at))
    keys = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(keys) == 1, results
    assert len(refused) == THREADS - 1, results
    with app.app_context():
        assert all(re.fullmatch(said("You have already answered this survey. Thank you!"), error.message)
                   for error in refused), results
        count = lambda model: db.session.scalar(  # noqa: E731
            sa.select(sa.func.count()).select_from(model).where(model.survey_id == survey_id))
        assert (count(Participation), count(Response), count(Answer)) == (1, 1, 3)
        assert db.session.get(Survey, survey_id).answer_count == 1
        db.session.remove()


@pytest.mark.committing
def test_an_editor_save_racing_the_first_answer_is_refused(app, clean_database):
    """The answer holds the survey row; the editor's locking read waits for it, then sees the answer."""
    from crm.surveys import services
    from crm.surveys.services import QuestionData, SurveyData

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("needs row locks between two open transactions (PostgreSQL); SQLite locks the whole file")
        tutor, klass, (student, *_rest) = make_tutored_class(1)
        survey = make_survey(tutor, klass)
        survey_id, user_id, tutor_id = survey.id, student.user_id, tutor.id
        answers = good_answers(survey)
        closes = survey.closes_at
        db.session.remove()
    answered, outcome = threading.Event(), {}

    def answer_and_hold():
        with app.app_context():
            answering.submit_answers(user_id, survey_id, answers, now=now())
            answered.set()
            threading.Event().wait(0.5)  # the editor is now waiting on our row lock
            db.session.commit()
            db.session.remove()

    def edit():
        from crm.auth.models import User

        with app.app_context():
            answered.wait(10)
            tutor = db.session.get(User, tutor_id)
            data = SurveyData("新标题", None, closes, None, [QuestionData(None, "score", "全部换掉")])
            try:
                services.save_survey(tutor, survey_id, data, now=now())
                db.session.commit()
                outcome["result"] = "saved"
            except Conflict as error:
                db.session.rollback()
                outcome["result"] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=answer_and_hold), threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(outcome["result"], Conflict), outcome
    with app.app_context():
        assert [q.prompt for q in answering.questions_of(survey_id)] == ["讲师授课打分", "进度如何？", "建议"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Answer)
                                 .where(Answer.survey_id == survey_id)) == 3
        db.session.remove()
