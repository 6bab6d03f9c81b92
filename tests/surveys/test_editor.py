"""The editor (Q-2): one transaction, ids checked, fixed after the first answer; copy; who may manage."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core.errors import Conflict, Forbidden, Invalid
from crm.extensions import db
from crm.surveys import answering, services
from crm.surveys.models import Option, Question, Survey
from crm.surveys.services import OptionData, QuestionData, SurveyData
from tests.factories import make_class, make_user
from tests.surveys.helpers import answer, make_survey, make_tutored_class, now, said


def snapshot(survey_id: int):
    """Everything the editor can change, as plain values."""
    survey = db.session.get(Survey, survey_id)
    db.session.refresh(survey)
    return (survey.title, survey.anonymous, [
        (q.id, q.position, q.kind, q.prompt, [(o.id, o.position, o.label, o.score) for o in q.options])
        for q in answering.questions_of(survey_id, fresh=True)])


def as_data(survey_id: int) -> SurveyData:
    """The stored survey as the editor would post it back unchanged."""
    survey = db.session.get(Survey, survey_id)
    return SurveyData(title=survey.title, opens_at=None, closes_at=survey.closes_at.replace(tzinfo=dt.timezone.utc)
                      if survey.closes_at.tzinfo is None else survey.closes_at, anonymous=survey.anonymous,
                      questions=[QuestionData(q.id, q.kind, q.prompt, [OptionData(o.id, o.label, o.score)
                                                                        for o in q.options])
                                 for q in answering.questions_of(survey_id, fresh=True)])


def test_add_remove_and_reorder_questions_and_options_in_one_save():
    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass, publish=False)
    data = as_data(survey.id)
    score, choice, text = data.questions
    choice.options = [choice.options[2], OptionData(None, "非常合适", 5), choice.options[0]]  # reorder, add, drop one
    data.questions = [text, QuestionData(None, "score", "新问题：班主任打分"), choice]  # reorder, add, drop score
    services.save_survey(tutor, survey.id, data, now=now())
    db.session.commit()
    _title, _anon, questions = snapshot(survey.id)
    assert [(q[1], q[2], q[3]) for q in questions] == [(1, "text", "建议"), (2, "score", "新问题：班主任打分"),
                                                        (3, "choice", "进度如何？")]
    assert questions[0][0] == text.id and questions[2][0] == choice.id  # kept rows keep their ids
    assert [(o[2], o[3]) for o in questions[2][4]] == [("太慢", 2), ("非常合适", 5), ("太快", 1)]
    assert db.session.get(Question, score.id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Option).where(Option.label == "合适")) == 0


def test_a_failure_mid_save_changes_nothing(monkeypatch):
    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass, publish=False)
    before = snapshot(survey.id)
    data = as_data(survey.id)
    data.title = "改过的标题"
    data.questions.reverse()
    data.questions.append(QuestionData(None, "text", "又一个问题"))
    calls = {"n": 0}
    real = services._write_options

    def failing(question, options):
        calls["n"] += 1
        if calls["n"] == 2:  # the first question is already written and flushed
            raise RuntimeError("disk full")
        return real(question, options)

    monkeypatch.setattr(services, "_write_options", failing)
    with pytest.raises(RuntimeError):
        services.save_survey(tutor, survey.id, data, now=now())
    db.session.rollback()
    assert snapshot(survey.id) == before


def test_a_failure_mid_save_through_the_page_changes_nothing(app, client, monkeypatch):
    from tests.factories import login

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # answer as production does: a 500 page
    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass, publish=False)
    before = snapshot(survey.id)
    questions = answering.questions_of(survey.id)
    form = {"title": "新标题", "closes_at": "2030-01-01T10:00",
            "questions-0-id": str(questions[2].id), "questions-0-kind": "text", "questions-0-prompt": "改了",
            "questions-1-id": str(questions[0].id), "questions-1-kind": "score", "questions-1-prompt": "也改了"}

    calls = {"n": 0}
    real = services._write_options

    def boom(question, options):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("lost connection")
        return real(question, options)

    monkeypatch.setattr(services, "_write_options", boom)
    login(client, tutor)
    response = client.post(f"/surveys/{survey.id}/edit", data=form)
    assert response.status_code == 500 and calls["n"] == 2
    assert snapshot(survey.id) == before


def test_a_crafted_post_touching_another_surveys_rows_is_refused():
    tutor, klass, _students = make_tutored_class(0)
    mine = make_survey(tutor, klass, publish=False)
    other_tutor, other_class, _ = make_tutored_class(0)
    theirs = make_survey(other_tutor, other_class, publish=False)
    their_before = snapshot(theirs.id)
    my_before = snapshot(mine.id)
    their_questions = answering.questions_of(theirs.id)

    data = as_data(mine.id)
    data.questions[0] = QuestionData(their_questions[0].id, "score", "偷改别人的问题")
    with pytest.raises(Forbidden):
        services.save_survey(tutor, mine.id, data, now=now())
    db.session.rollback()

    data = as_data(mine.id)
    data.questions[1].options[0] = OptionData(their_questions[1].options[0].id, "偷改选项", 9)
    with pytest.raises(Forbidden):
        services.save_survey(tutor, mine.id, data, now=now())
    db.session.rollback()

    data = as_data(mine.id)  # an option moved from one of my questions to a new one
    data.questions.append(QuestionData(None, "choice", "新", [dataclasses.replace(data.questions[1].options[0]),
                                                             OptionData(None, "b", 1)]))
    with pytest.raises(Forbidden):
        services.save_survey(tutor, mine.id, data, now=now())
    db.session.rollback()

    with pytest.raises(Forbidden):  # and the other survey itself cannot be saved by a stranger
        services.save_survey(tutor, theirs.id, as_data(theirs.id), now=now())
    db.session.rollback()
    assert snapshot(theirs.id) == their_before
    assert snapshot(mine.id) == my_before


def test_after_the_first_answer_only_title_and_close_time_change():
    tutor, klass, (student, *_rest) = make_tutored_class()
    survey = make_survey(tutor, klass)
    answer(student, survey)
    before = snapshot(survey.id)
    data = as_data(survey.id)
    data.questions[0].prompt = "换个说法"
    locked = said("Students have already answered this survey: only its title and close time can change now.")
    with pytest.raises(Conflict, match=locked):
        services.save_survey(tutor, survey.id, data, now=now())
    db.session.rollback()
    assert snapshot(survey.id) == before
    with pytest.raises(Conflict):
        services.save_survey(tutor, survey.id, dataclasses.replace(data, questions=None, anonymous=True), now=now())
    db.session.rollback()
    later = now() + dt.timedelta(days=9)
    services.save_survey(tutor, survey.id, SurveyData("新标题", None, later, None, None), now=now())
    db.session.commit()
    stored = db.session.get(Survey, survey.id)
    assert stored.title == "新标题"
    assert snapshot(survey.id)[2] == before[2]


def test_bad_editor_input_is_refused_with_a_message_and_nothing_written():
    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass, publish=False)
    before = snapshot(survey.id)
    at = now()
    bad = [
        SurveyData("", None, at + dt.timedelta(days=1), False, []),
        SurveyData("x" * 201, None, at + dt.timedelta(days=1), False, None),
        SurveyData("t", at, at - dt.timedelta(days=1), False, None),
        SurveyData("t", None, at + dt.timedelta(days=1), False, []),
        SurveyData("t", None, at + dt.timedelta(days=1), False, [QuestionData(None, "essay", "q")]),
        SurveyData("t", None, at + dt.timedelta(days=1), False, [QuestionData(None, "score", " \x00 ")]),
        SurveyData("t", None, at + dt.timedelta(days=1), False,
                   [QuestionData(None, "choice", "q", [OptionData(None, "a", 1)])]),
        SurveyData("t", None, at + dt.timedelta(days=1), False,
                   [QuestionData(None, "choice", "q", [OptionData(None, "a", 1), OptionData(None, "b", None)])]),
        SurveyData("t", None, at + dt.timedelta(days=1), False,
                   [QuestionData(None, "choice", "q", [OptionData(None, "a", 1), OptionData(None, "b", 10**6)])]),
        SurveyData("t", None, at + dt.timedelta(days=1), False, [QuestionData(None, "score", "q")] * 51),
    ]
    for data in bad:
        with pytest.raises(Invalid):
            services.save_survey(tutor, survey.id, data, now=at)
        db.session.rollback()
    assert snapshot(survey.id) == before


def test_who_may_manage_and_read_results():
    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass, publish=False)
    other_tutor = make_user("tutor")
    admin, ceo, teacher = make_user("admin"), make_user("ceo"), make_user("teacher")
    klass.teachers = [teacher]
    db.session.commit()
    assert services.may_manage(tutor, survey) and services.may_see_results(tutor, survey)
    assert services.may_manage(admin, survey) and services.may_see_results(admin, survey)
    assert not services.may_manage(ceo, survey) and services.may_see_results(ceo, survey)
    for user in (other_tutor, teacher, make_user("sales_director"), make_user("student")):
        assert not services.may_manage(user, survey)
        assert not services.may_see_results(user, survey)
    # The class tutor may manage a survey somebody else (an admin) made for the class.
    by_admin = make_survey(admin, klass, publish=False)
    assert services.may_manage(tutor, by_admin)
    with pytest.raises(Forbidden):
        services.create_survey(other_tutor, klass.id, as_data(survey.id), now=now())


def test_copy_makes_a_new_draft_for_another_class_with_the_same_questions():
    tutor, klass, (student, *_rest) = make_tutored_class()
    survey = make_survey(tutor, klass)
    answer(student, survey)
    target = make_class(tutor=tutor)
    copy = services.copy_survey(tutor, survey.id, target.id, now=now())
    db.session.commit()
    assert copy.id != survey.id and copy.class_id == target.id and copy.is_draft and copy.answer_count == 0
    original = [(q.kind, q.prompt, [(o.label, o.score) for o in q.options]) for q in answering.questions_of(survey.id)]
    copied = [(q.kind, q.prompt, [(o.label, o.score) for o in q.options]) for q in answering.questions_of(copy.id)]
    assert copied == original
    assert not {q.id for q in answering.questions_of(copy.id)} & {q.id for q in answering.questions_of(survey.id)}
    with pytest.raises(Forbidden):  # not to a class one does not tutor
        services.copy_survey(tutor, survey.id, make_class().id, now=now())
    with pytest.raises(Invalid):
        services.copy_survey(tutor, survey.id, 2**31 - 1, now=now())


def test_publish_needs_questions_and_a_future_close_time():
    tutor, klass, _students = make_tutored_class(0)
    empty = services.create_survey(tutor, klass.id, SurveyData("空", None, now() + dt.timedelta(days=1), False, [
        QuestionData(None, "score", "q")]), now=now())
    db.session.commit()
    services.save_survey(tutor, empty.id, SurveyData("空", None, now() + dt.timedelta(days=1), False, None), now=now())
    services.publish_survey(tutor, empty.id, now=now())
    with pytest.raises(Conflict):
        services.publish_survey(tutor, empty.id, now=now())
    db.session.rollback()
    late = make_survey(tutor, klass, publish=False, closes=dt.timedelta(hours=1))
    with pytest.raises(Invalid):
        services.publish_survey(tutor, late.id, now=now() + dt.timedelta(hours=2))
