"""The survey pages as a tutor and students use them: plain-form editor, share, answer, results, home card."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.surveys import answering
from crm.surveys.models import Answer, Participation, Question, Survey
from tests.factories import login, logout
from tests.surveys.helpers import answer, good_answers, make_survey, make_tutored_class, now


def local(delta: dt.timedelta) -> str:
    return (clock.now() + delta).strftime("%Y-%m-%dT%H:%M")


def editor_form(class_id=None, **extra) -> dict:
    """A plain (no JavaScript) editor post: three questions, the last one a single choice with options."""
    form = {
        "title": "期中满意度调查", "opens_at": local(dt.timedelta(minutes=-5)),
        "closes_at": local(dt.timedelta(days=3)),
        "questions-0-position": "2", "questions-0-kind": "score", "questions-0-prompt": "讲师打分",
        "questions-1-position": "3", "questions-1-kind": "text", "questions-1-prompt": "你的建议",
        "questions-2-position": "1", "questions-2-kind": "choice", "questions-2-prompt": "进度如何",
        "questions-2-options-0-label": "太快", "questions-2-options-0-score": "1",
        "questions-2-options-1-label": "合适", "questions-2-options-1-score": "3",
        "questions-2-options-2-label": "", "questions-2-options-2-score": "",  # an unused blank slot
        "questions-3-position": "4", "questions-3-kind": "score", "questions-3-prompt": "",  # the blank new row
    }
    if class_id is not None:
        form["class_id"] = str(class_id)
    form.update(extra)
    return form


def test_a_tutor_builds_shares_and_reads_a_survey_through_the_pages(client):
    tutor, klass, (first, second, _third) = make_tutored_class(3)
    login(client, tutor)
    page = client.get("/surveys/new")
    assert page.status_code == 200 and 'name="questions-0-prompt"' in page.get_data(as_text=True)
    response = client.post("/surveys/new", data=editor_form(klass.id))
    assert response.status_code == 302, response.get_data(as_text=True)
    survey = db.session.scalar(sa.select(Survey).where(Survey.class_id == klass.id))
    assert survey.is_draft and survey.creator_id == tutor.id
    assert [(q.kind, q.prompt) for q in answering.questions_of(survey.id)] == [
        ("choice", "进度如何"), ("score", "讲师打分"), ("text", "你的建议")]
    assert [o.label for o in answering.questions_of(survey.id)[0].options] == ["太快", "合适"]
    assert client.post(f"/surveys/{survey.id}/publish").status_code == 302
    logout(client)

    login(client, first.user)
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'data-testid="surveys-panel"' in home and f"/surveys/{survey.id}/answer" in home
    assert client.get(f"/surveys/{survey.id}/answer").status_code == 200
    response = client.post(f"/surveys/{survey.id}/answer", data={f"q-{k}": v for k, v in good_answers(survey).items()})
    assert response.status_code == 302
    again = client.post(f"/surveys/{survey.id}/answer", data={f"q-{k}": v for k, v in good_answers(survey).items()})
    assert again.status_code == 409 and "您已经填写过这份问卷" in again.get_data(as_text=True)
    assert 'data-testid="surveys-panel"' not in client.get("/", follow_redirects=True).get_data(as_text=True)
    logout(client)

    login(client, second.user)
    missing = client.post(f"/surveys/{survey.id}/answer", data={})
    assert missing.status_code == 422 and missing.get_data(as_text=True).count("data-error=") == 3
    logout(client)

    login(client, tutor)
    results = client.get(f"/surveys/{survey.id}/results").get_data(as_text=True)
    assert 'id="answered">1<' in results and 'id="class-size">3<' in results
    listing = client.get("/surveys/").get_data(as_text=True)
    assert f'data-survey="{survey.id}"' in listing and 'data-col="answered">1 / 3<' in listing
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Participation)) >= 1


def test_the_editor_page_of_an_answered_survey_says_why_it_is_fixed_and_refuses_question_edits(client):
    tutor, klass, (student, *_rest) = make_tutored_class(1)
    survey = make_survey(tutor, klass)
    answer(student, survey)
    login(client, tutor)
    page = client.get(f"/surveys/{survey.id}/edit").get_data(as_text=True)
    assert 'id="survey-locked"' in page and 'name="questions-0-prompt"' not in page
    question = answering.questions_of(survey.id)[0]
    crafted = {"title": "改", "closes_at": local(dt.timedelta(days=4)), "questions-0-id": str(question.id),
               "questions-0-kind": "score", "questions-0-prompt": "偷偷改问题"}
    assert client.post(f"/surveys/{survey.id}/edit", data=crafted).status_code == 409
    db.session.expire_all()
    assert db.session.get(Question, question.id).prompt == "讲师授课打分"
    ok = client.post(f"/surveys/{survey.id}/edit", data={"title": "新的标题", "closes_at": local(dt.timedelta(days=4))})
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).title == "新的标题"


def test_a_crafted_page_post_naming_another_surveys_question_is_refused(client):
    tutor, klass, _students = make_tutored_class(0)
    mine = make_survey(tutor, klass, publish=False)
    other_tutor, other_class, _ = make_tutored_class(0)
    theirs = make_survey(other_tutor, other_class, publish=False)
    target = answering.questions_of(theirs.id)[0]
    login(client, tutor)
    form = editor_form(**{"questions-0-id": str(target.id), "questions-0-prompt": "改别人的"})
    assert client.post(f"/surveys/{mine.id}/edit", data=form).status_code == 403
    for garbage in ("abc", "-5", str(2**31), "9" * 30):
        form = editor_form(**{"questions-0-id": garbage})
        assert client.post(f"/surveys/{mine.id}/edit", data=form).status_code == 403, garbage
    db.session.expire_all()
    assert db.session.get(Question, target.id).prompt == target.prompt
    assert len(answering.questions_of(mine.id)) == 3


def test_ugly_editor_input_never_gives_a_500_and_writes_nothing(client):
    tutor, klass, _students = make_tutored_class(0)
    login(client, tutor)
    cases = [
        editor_form("abc"),
        editor_form(str(2**31)),
        editor_form(str(2**63)),
        editor_form(klass.id, title=""),
        editor_form(klass.id, title="x" * 5000),
        editor_form(klass.id, closes_at="yesterday"),
        editor_form(klass.id, closes_at="0001-01-01T00:00", opens_at="0001-01-01T00:00"),
        editor_form(klass.id, closes_at="9999-12-31T23:59"),
        editor_form(klass.id, closes_at=local(dt.timedelta(days=-2))),
        editor_form(klass.id, **{"questions-0-kind": "essay"}),
        editor_form(klass.id, **{"questions-2-options-1-score": "1e9"}),
        editor_form(klass.id, **{"questions-2-options-1-label": ""}),  # one option left
        editor_form(klass.id, **{"questions-0-position": "99999999999999999999"}),
        {k: v for k, v in editor_form(klass.id).items() if not k.startswith("questions")},
    ]
    for data in cases:
        response = client.post("/surveys/new", data=data)
        assert response.status_code in (400, 403, 409, 422), (response.status_code, data)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_user_text_is_escaped_on_every_page(client):
    tutor, klass, (student, *_rest) = make_tutored_class(1)
    login(client, tutor)
    form = editor_form(klass.id, title="<script>alert('t')</script>",
                       **{"questions-0-prompt": "<img src=x onerror=alert(1)>",
                          "questions-2-options-0-label": "<b>快</b>"})
    assert client.post("/surveys/new", data=form).status_code == 302
    survey = db.session.scalar(sa.select(Survey).where(Survey.class_id == klass.id))
    client.post(f"/surveys/{survey.id}/publish")
    pages = [client.get(url).get_data(as_text=True)
             for url in ("/surveys/", f"/surveys/{survey.id}/edit", f"/surveys/{survey.id}/results")]
    logout(client)
    login(client, student.user)
    pages += [client.get("/", follow_redirects=True).get_data(as_text=True),
              client.get(f"/surveys/{survey.id}/answer").get_data(as_text=True)]
    for html in pages:
        assert "&lt;script&gt;alert" in html  # the title is shown on every one of these pages, escaped
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>快</b>" not in html


def test_the_answer_page_of_a_closed_survey_says_so(client):
    tutor, klass, (student, *_rest) = make_tutored_class(1)
    survey = make_survey(tutor, klass, at=now() - dt.timedelta(days=10), opens=dt.timedelta(0),
                         closes=dt.timedelta(days=2))
    login(client, student.user)
    response = client.get(f"/surveys/{survey.id}/answer")
    assert response.status_code == 409
    assert client.post(f"/surveys/{survey.id}/answer", data={"q-1": "5"}).status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) == 0
    assert client.get(f"/surveys/{2**31 - 1}/answer").status_code == 404
    assert client.get(f"/surveys/{2**31}/answer").status_code == 404


def test_copy_page_makes_a_draft_for_another_class(client):
    from tests.factories import make_class

    tutor, klass, _students = make_tutored_class(0)
    survey = make_survey(tutor, klass)
    target = make_class(tutor=tutor)
    login(client, tutor)
    assert client.get(f"/surveys/{survey.id}/copy").status_code == 200
    response = client.post(f"/surveys/{survey.id}/copy", data={"class_id": str(target.id)})
    assert response.status_code == 302
    copy = db.session.scalar(sa.select(Survey).where(Survey.class_id == target.id))
    assert copy.is_draft and len(answering.questions_of(copy.id)) == 3
    for bad in ("x", str(2**40), str(make_tutored_class(0)[1].id)):
        assert client.post(f"/surveys/{survey.id}/copy", data={"class_id": bad}).status_code in (400, 403, 422)
