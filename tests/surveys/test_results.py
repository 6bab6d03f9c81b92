"""Results (Q-4): hand-computed figures, a fixed number of queries, the streamed export."""
from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.extensions import db
from crm.surveys import answering, results
from crm.surveys.models import Survey
from tests.factories import login, make_student, make_user
from tests.surveys.helpers import good_answers, make_survey, make_tutored_class, now

# Hand-computed fixture: 5 answers in a class of 6 (and one student who left is not counted).
SCORES = [3, 7, 7, 9, 10]            # mean 36/5 = 7.2, median 7, histogram below
HISTOGRAM = [0, 0, 1, 0, 0, 0, 2, 0, 1, 1]
CHOICES = [0, 1, 1, 1, 2]            # option scores 1, 3, 2 → counts 1, 3, 1 → 20 %, 60 %, 20 %; mean (1+9+2)/5 = 2.4
TEXTS = ["第一条意见：课程安排得非常合理。", "Second comment, long enough!!", "第三条意见：希望多一些实践项目。",
         "<b>fourth</b> comment is here ok", "第五条意见：老师们辛苦了，谢谢！！"]


@pytest.fixture
def answered_survey():
    tutor, klass, students = make_tutored_class(6)
    make_student(klass, left_on=dt.date(2026, 9, 10))
    survey = make_survey(tutor, klass)
    for student, score, choice, text in zip(students, SCORES, CHOICES, TEXTS):
        answering.submit_answers(student.user_id, survey.id,
                                 good_answers(survey, score=score, option_index=choice, text=text), now=now())
    db.session.commit()
    return tutor, survey


def test_results_equal_the_hand_computed_figures(answered_survey):
    _tutor, survey = answered_survey
    outcome = results.survey_results(db.session.get(Survey, survey.id), now=now())
    assert (outcome.answered, outcome.class_size) == (5, 6)
    assert outcome.rate == pytest.approx(5 / 6)
    score, choice, text = outcome.questions
    assert score.score.count == 5
    assert score.score.mean == pytest.approx(7.2)
    assert score.score.median == 7
    assert score.score.histogram == HISTOGRAM
    assert choice.choice.count == 5
    assert [(row.option.label, row.count) for row in choice.choice.rows] == [("太快", 1), ("合适", 3), ("太慢", 1)]
    assert [row.percent for row in choice.choice.rows] == pytest.approx([20.0, 60.0, 20.0])
    assert choice.choice.mean_score == pytest.approx(2.4)
    assert text.text_count == 5 and sorted(text.texts) == sorted(TEXTS)


@pytest.mark.parametrize("histogram, median", [
    ([0] * 10, None),
    ([1] + [0] * 9, 1),
    ([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], 5.5),
    ([0, 2, 0, 0, 0, 0, 0, 0, 0, 2], 6),
    ([0, 0, 3, 1, 0, 0, 0, 0, 0, 0], 3),
    ([0, 0, 2, 2, 0, 0, 0, 0, 0, 0], 3.5),
])
def test_median_from_the_histogram_matches_the_sorted_list(histogram, median):
    import statistics

    assert results.median_from_histogram(histogram) == median
    values = [score for score, count in enumerate(histogram, start=1) for _ in range(count)]
    if values:
        assert statistics.median(values) == median


def test_results_page_shows_figures_and_escapes_text(client, answered_survey):
    tutor, survey = answered_survey
    login(client, tutor)
    page = client.get(f"/surveys/{survey.id}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="answered">5<' in html and 'id="class-size">6<' in html
    assert 'data-stat="mean">7.20<' in html and 'data-stat="median">7.0<' in html
    assert 'data-stat="percent">60.0<' in html and 'data-stat="mean">2.40<' in html
    assert "&lt;b&gt;fourth&lt;/b&gt;" in html and "<b>fourth</b>" not in html
    assert "chart.umd.min.js" in html and "js/surveys.js" in html


def test_results_page_costs_a_fixed_number_of_queries(app, client):
    tutor, klass, students = make_tutored_class(12)
    survey = make_survey(tutor, klass)
    login(client, tutor)

    def queries_for_page() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/surveys/{survey.id}/results").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = None
    for i, student in enumerate(students):
        answering.submit_answers(student.user_id, survey.id, good_answers(survey, score=1 + i % 10), now=now())
        db.session.commit()
        if i == 1:
            few = queries_for_page()
    assert queries_for_page() == few


def test_export_streams_one_row_per_response(client, answered_survey):
    tutor, survey = answered_survey
    login(client, tutor)
    response = client.get(f"/surveys/{survey.id}/export")
    assert response.status_code == 200 and response.headers["X-Export-Rows"] == "5"
    sheet = load_workbook(io.BytesIO(response.data)).active
    response.close()
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["学员", "1. 讲师授课打分", "2. 进度如何？", "3. 建议"]
    assert sorted(row[1] for row in rows[1:]) == sorted(SCORES)
    assert sorted(row[2] for row in rows[1:]) == sorted(["太快", "合适", "合适", "合适", "太慢"])
    assert all(row[0] for row in rows[1:])  # names: the survey is not anonymous


def test_anonymous_export_has_no_names(client):
    tutor, klass, students = make_tutored_class(2)
    survey = make_survey(tutor, klass, anonymous=True)
    for student in students:
        answering.submit_answers(student.user_id, survey.id, good_answers(survey), now=now())
    db.session.commit()
    login(client, tutor)
    response = client.get(f"/surveys/{survey.id}/export")
    sheet = load_workbook(io.BytesIO(response.data)).active
    response.close()
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(rows) == 3 and len(rows[0]) == 3
    names = {s.user.name for s in students}
    assert not names & {value for row in rows for value in row}


def test_strangers_do_not_see_results(client, answered_survey):
    _tutor, survey = answered_survey
    for user in (make_user("tutor"), make_user("teacher"), make_user("sales_director")):
        login(client, user)
        assert client.get(f"/surveys/{survey.id}/results").status_code == 403
        assert client.get(f"/surveys/{survey.id}/export").status_code == 403
        client.post("/auth/logout")
    login(client, make_user("ceo"))
    assert client.get(f"/surveys/{survey.id}/results").status_code == 200
