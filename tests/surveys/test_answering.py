"""Answering (Q-3): the class's students only, while open, once, every question, one transaction."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.core.errors import Conflict, Forbidden, NotFound
from crm.extensions import db
from crm.surveys import answering
from crm.surveys.models import Answer, Participation, Response, Survey
from tests.factories import make_class, make_student, make_user
from tests.surveys.helpers import answer, good_answers, make_survey, make_tutored_class, now, said


def counts(survey_id: int) -> tuple[int, int, int]:
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.survey_id == survey_id))
                 for model in (Participation, Response, Answer))


def test_a_student_of_the_class_answers_once_and_everything_is_stored():
    tutor, klass, (student, *_rest) = make_tutored_class()
    survey = make_survey(tutor, klass)
    key = answer(student, survey)
    assert counts(survey.id) == (1, 1, 3)
    response = db.session.get(Response, key)
    assert response.student_id == student.id  # not anonymous: the name stays with the answers
    assert db.session.get(Survey, survey.id).answer_count == 1
    with pytest.raises(Conflict, match=said("You have already answered this survey. Thank you!")):
        answering.submit_answers(student.user_id, survey.id, good_answers(survey), now=now())
    db.session.rollback()
    assert counts(survey.id) == (1, 1, 3)
    assert db.session.get(Survey, survey.id).answer_count == 1


def test_a_student_of_another_class_is_refused():
    tutor, klass, _students = make_tutored_class(1)
    outsider = make_student(make_class())
    survey = make_survey(tutor, klass)
    with pytest.raises(Forbidden, match=said("This survey is for the students of another class.")):
        answering.submit_answers(outsider.user_id, survey.id, good_answers(survey), now=now())
    db.session.rollback()
    assert counts(survey.id) == (0, 0, 0)


def test_a_student_who_left_the_class_is_refused():
    tutor, klass, _students = make_tutored_class(1)
    gone = make_student(klass, joined_on=dt.date(2026, 9, 1), left_on=dt.date(2026, 9, 20))
    survey = make_survey(tutor, klass)
    with pytest.raises(Forbidden):
        answering.submit_answers(gone.user_id, survey.id, good_answers(survey), now=now())


def test_staff_are_refused():
    tutor, klass, _students = make_tutored_class(1)
    survey = make_survey(tutor, klass)
    for user in (tutor, make_user("staff"), make_user("admin")):
        with pytest.raises(Forbidden, match=said("Only students answer surveys.")):
            answering.submit_answers(user.id, survey.id, good_answers(survey), now=now())
    assert counts(survey.id) == (0, 0, 0)


def test_after_the_close_time_everyone_is_refused():
    tutor, klass, (student, *_rest) = make_tutored_class()
    survey = make_survey(tutor, klass, opens=dt.timedelta(days=-1), closes=dt.timedelta(hours=2))
    later = now() + dt.timedelta(hours=2)  # exactly the close time: closed
    with pytest.raises(Conflict, match=said("This survey is closed.")):
        answering.submit_answers(student.user_id, survey.id, good_answers(survey), now=later)
    db.session.rollback()
    assert counts(survey.id) == (0, 0, 0)


def test_before_the_open_time_and_drafts_are_refused():
    tutor, klass, (student, *_rest) = make_tutored_class()
    upcoming = make_survey(tutor, klass, opens=dt.timedelta(days=1), closes=dt.timedelta(days=3), at=now())
    with pytest.raises(Conflict, match=said("This survey is not open yet.")):
        answering.submit_answers(student.user_id, upcoming.id, good_answers(upcoming), now=now())
    draft = make_survey(tutor, klass, publish=False)
    with pytest.raises(NotFound):
        answering.submit_answers(student.user_id, draft.id, good_answers(draft), now=now())
    with pytest.raises(NotFound):
        answering.submit_answers(student.user_id, 2**31 - 1, {}, now=now())


def test_every_question_is_required_and_checked_nothing_stored_on_error():
    tutor, klass, (student, *_rest) = make_tutored_class()
    survey = make_survey(tutor, klass)
    other = make_survey(tutor, klass)
    questions = answering.questions_of(survey.id)
    score_q, choice_q, text_q = questions
    foreign_option = answering.questions_of(other.id)[1].options[0].id
    every = {score_q.id, choice_q.id, text_q.id}
    cases = [
        ({}, {score_q.id, choice_q.id, text_q.id}),
        ({score_q.id: "11", choice_q.id: str(choice_q.options[0].id), text_q.id: "x" * 20}, {score_q.id}),
        ({score_q.id: "0", choice_q.id: str(foreign_option), text_q.id: "短评" * 3}, every),
        ({score_q.id: "abc", choice_q.id: "99999999999999999999", text_q.id: "\x00" * 30}, every),
        ({score_q.id: "7.5", choice_q.id: "-1", text_q.id: " " * 40}, {score_q.id, choice_q.id, text_q.id}),
        ({score_q.id: "5", choice_q.id: str(choice_q.options[0].id), text_q.id: "x" * 2001}, {text_q.id}),
    ]
    for raw, wrong in cases:
        with pytest.raises(answering.AnswerErrors) as caught:
            answering.submit_answers(student.user_id, survey.id, raw, now=now())
        db.session.rollback()
        assert set(caught.value.errors) == wrong, raw
    assert counts(survey.id) == (0, 0, 0)
    assert db.session.get(Survey, survey.id).answer_count == 0


def test_text_length_counts_characters_so_chinese_text_counts_right():
    tutor, klass, (first, second, _third) = make_tutored_class()
    survey = make_survey(tutor, klass)
    fourteen = "老师讲得很好我学到了很多东西"  # 14 characters (42 bytes in UTF-8)
    assert len(fourteen) == 14
    with pytest.raises(answering.AnswerErrors):
        answering.submit_answers(first.user_id, survey.id, good_answers(survey, text=fourteen), now=now())
    db.session.rollback()
    answer(first, survey, text=fourteen + "。")  # 15 characters
    answer(second, survey, text="  <script>alert(1)</script> 😀😀😀  ")
    texts = set(db.session.scalars(sa.select(Answer.text).where(Answer.text.is_not(None))))
    assert texts == {fourteen + "。", "<script>alert(1)</script> 😀😀😀"}


def test_anonymous_mode_stores_no_link_between_a_response_and_a_student():
    tutor, klass, students = make_tutored_class(3)
    survey = make_survey(tutor, klass, anonymous=True)
    keys = [answer(student, survey, score=3 + i) for i, student in enumerate(students)]
    # Who took part is known ...
    assert set(answering.survey_student_ids(survey.id)) == {s.id for s in students}
    # ... what was answered carries no student, no time and no sequential id.
    rows = db.session.execute(sa.select(Response.__table__).where(Response.survey_id == survey.id)).mappings().all()
    assert {row["student_id"] for row in rows} == {None}
    assert set(Response.__table__.columns.keys()) == {"key", "survey_id", "student_id"}
    assert set(Answer.__table__.columns.keys()) == {"response_key", "question_id", "survey_id", "score",
                                                   "option_id", "text"}
    assert len(set(keys)) == 3 and all(len(key) == 32 and int(key, 16) >= 0 for key in keys)  # random hex
    assert set(Participation.__table__.columns.keys()) == {"id", "survey_id", "student_id", "answered_at"}
    # No foreign key points from who-took-part to what-was-answered, or back.
    assert not {fk.column.table.name for fk in Participation.__table__.foreign_keys} & {
        "survey_responses", "survey_answers"}
    for table in (Response.__table__, Answer.__table__):
        assert "survey_participations" not in {fk.column.table.name for fk in table.foreign_keys}
    # And a second answer is still refused.
    with pytest.raises(Conflict, match=said("You have already answered this survey. Thank you!")):
        answering.submit_answers(students[0].user_id, survey.id, good_answers(survey), now=now())
    db.session.rollback()
    assert counts(survey.id) == (3, 3, 9)


def test_open_surveys_for_a_student_lists_only_their_open_shared_surveys():
    tutor, klass, (student, *_rest) = make_tutored_class()
    open_one = make_survey(tutor, klass)
    make_survey(tutor, klass, publish=False)
    make_survey(tutor, klass, opens=dt.timedelta(days=-5), closes=dt.timedelta(days=-1), at=now())
    other_tutor, other_class, _ = make_tutored_class(1)
    make_survey(other_tutor, other_class)
    assert [(s.id, done) for s, done in answering.open_surveys_for(student.user_id, now())] == [(open_one.id, False)]
    answer(student, open_one)
    assert [(s.id, done) for s, done in answering.open_surveys_for(student.user_id, now())] == [(open_one.id, True)]
    assert answering.open_surveys_for(tutor.id, now()) == []
