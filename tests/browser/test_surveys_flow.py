"""Surveys in a real browser: a tutor builds a three-question survey, two students answer, the tutor reads the chart."""
from __future__ import annotations

import sqlalchemy as sa

from tests.browser.conftest import sign_in, sign_out

TEXT = "老师讲得很清楚，项目练习也很有帮助，谢谢！"


def class_students(live_server, class_id: int) -> list[str]:
    """User names of the students in a class today."""
    from crm.core.clock import today
    from crm.extensions import db
    from crm.students.services import enrolled_on

    with live_server.app.app_context():
        names = [student.user.username for student in enrolled_on(class_id, today())]
        db.session.remove()
    return names


def answered_by(live_server, survey_id: int) -> int:
    from crm.extensions import db
    from crm.surveys.models import Participation

    with live_server.app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Participation)
                                  .where(Participation.survey_id == survey_id))
        db.session.remove()
    return count


def test_a_tutor_builds_a_survey_two_students_answer_and_the_tutor_reads_the_chart(page, live_server, artifacts_dir):
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "tutor1")
    page.click("[data-endpoint='surveys.new']")
    page.wait_for_selector("#survey-form")
    class_id = int(page.eval_on_selector("#class_id", "select => select.value"))
    page.fill("#title", "浏览器里建的问卷")

    # The blank row is question 1; "Add question" makes the others in place (JavaScript).
    first = page.locator("#questions > .js-question").nth(0)
    first.locator(".js-prompt").fill("给讲师打分")
    assert first.locator(".js-options").is_hidden()  # options only show for single choice
    page.click("#add-question")
    text_question = page.locator("#questions > .js-question").nth(1)
    text_question.locator(".js-kind").select_option("text")
    text_question.locator(".js-prompt").fill("写下你的建议")
    page.click("#add-question")
    choice = page.locator("#questions > .js-question").nth(2)
    choice.locator(".js-kind").select_option("choice")
    choice.locator(".js-prompt").fill("课程进度如何？")
    assert choice.locator(".js-options").is_visible()
    options = choice.locator("tr.js-option")
    assert options.count() == 2
    for i, (label, score) in enumerate([("太快", "1"), ("合适", "3")]):
        options.nth(i).locator(".js-option-label").fill(label)
        options.nth(i).locator(".js-option-score").fill(score)
    choice.locator(".js-add-option").click()
    options.nth(2).locator(".js-option-label").fill("太慢")
    options.nth(2).locator(".js-option-score").fill("2")
    # Reorder: the choice question moves up above the text question; the order numbers follow.
    choice.locator(".js-up").first.click()
    prompts = page.eval_on_selector_all("#questions > .js-question .js-prompt", "els => els.map(e => e.value)")
    positions = page.eval_on_selector_all("#questions > .js-question > .row .js-position",
                                          "els => els.map(e => e.value)")
    assert prompts[:3] == ["给讲师打分", "课程进度如何？", "写下你的建议"]
    assert positions[:3] == ["1", "2", "3"]
    page.screenshot(path=str(artifacts_dir / "surveys-1-editor.png"), full_page=True)
    page.click("#survey-save")
    page.wait_for_selector("#survey-publish")
    kinds = page.eval_on_selector_all("#questions > .js-question .js-kind", "els => els.map(e => e.value)")
    assert kinds[:3] == ["score", "choice", "text"]
    survey_id = int(page.url.rstrip("/").split("/")[-2])
    page.click("#survey-publish")
    page.wait_for_selector("#survey-state[data-state=open]")
    sign_out(page)

    students = class_students(live_server, class_id)
    assert len(students) >= 2, students
    for number, username in enumerate(students[:2]):
        sign_in(page, live_server, username)
        if number == 0:
            page.screenshot(path=str(artifacts_dir / "surveys-2-home.png"), full_page=True)
        page.click(f"[data-testid=surveys-panel] a[data-survey='{survey_id}']")
        page.wait_for_selector("#answer-form")
        blocks = page.locator("#answer-form fieldset")
        score_id = blocks.nth(0).get_attribute("data-question")
        page.click(f"label[for='q-{score_id}-{7 + number}']")
        blocks.nth(1).locator("input[type=radio]").nth(1).check()
        blocks.nth(2).locator("textarea").fill(TEXT)
        if number == 0:
            page.screenshot(path=str(artifacts_dir / "surveys-3-answer.png"), full_page=True)
        page.click("#answer-submit")
        page.wait_for_selector("[data-testid=my-surveys]")
        assert page.locator(f"[data-testid=my-surveys] tr[data-survey='{survey_id}'] .badge").count() == 1
        sign_out(page)
    assert answered_by(live_server, survey_id) == 2

    sign_in(page, live_server, "tutor1")
    page.goto(f"{live_server.url}/surveys/{survey_id}/results")
    page.wait_for_selector("#survey-charts[data-drawn='1']", state="attached")
    assert page.inner_text("#answered") == "2"
    assert page.locator("canvas[data-drawn='1']").count() == 2  # the score and the choice questions
    assert page.inner_text("section[data-kind=score] [data-stat=mean]") == "7.50"
    assert TEXT in page.inner_text("section[data-kind=text]")
    page.screenshot(path=str(artifacts_dir / "surveys-4-results.png"), full_page=True)
