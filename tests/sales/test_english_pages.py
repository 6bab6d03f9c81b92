"""The English UI shows no Chinese outside user data: every sales page and export, walked from the URL map."""
from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook

from crm.core import clock
from crm.extensions import db
from crm.sales import choices
from crm.sales.payments import services as payments
from tests.factories import login, make_class, make_course, make_school, make_user
from tests.sales.lead_factories import close_holding, make_lead, use_english

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def _chinese(text: str) -> list[str]:
    return sorted({text[max(m.start() - 30, 0):m.end() + 30] for m in CJK.finditer(text)})[:5]


def _pages(app, values: dict[str, int]) -> list[str]:
    """Every GET page of the sales area whose arguments we can fill in."""
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/sales") or "GET" not in rule.methods:
                continue
            if rule.rule.startswith("/sales/imports"):
                continue  # the Excel template's column names are Chinese by format (shown beside the English)
            if any(arg not in values for arg in rule.arguments):
                continue
            urls.append(url_for(rule.endpoint, **{a: values[a] for a in rule.arguments}))
    return sorted(set(urls))


def test_every_sales_page_in_english_has_no_chinese_outside_user_data(app, client):
    today = clock.today()
    director = make_user("sales_director", name="Director Dee")
    consultant = make_user("consultant", name="Connie")
    course = make_course("Python full stack")
    lead = make_lead(consultant, name="Wang Wei", courses=[course], received_on=today, last_follow_up_on=today,
                     source=4)
    lost = make_lead(None, name="Li Lei", source=2)
    close_holding(lost, consultant, choices.LOST_NO_FOLLOW_UP, today - dt.timedelta(days=9),
                  today - dt.timedelta(days=5))
    buyer = make_lead(consultant, name="Zhao Min", received_on=today, last_follow_up_on=today, source=1)
    klass = make_class(make_school("North campus"), course=course)
    class_name = klass.display_name  # the school's own name for a class ("course (N期)"): data, not UI text
    paid = payments.record_payment(director.id, buyer.id, {
        "pay_type": choices.PAY_TUITION, "paid_amount": "5000", "date": today.isoformat(),
        "class_id": klass.id}, today=today)
    db.session.commit()
    values = {"customer_id": lead.id, "student_id": paid.student.id}
    problems = {}
    mine = ["/sales/mine", "/sales/mine?tab=history", "/sales/pool", f"/sales/leads/{lead.id}",
            f"/sales/students/{paid.student.id}"]
    for who, urls in ((director, _pages(app, values)), (consultant, mine)):
        if who is consultant:
            client.post("/auth/logout")
        login(client, who)
        use_english(client)
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 403), (url, response.status_code)
            if response.status_code != 200:
                continue
            if response.mimetype.endswith("spreadsheetml.sheet"):
                sheet = load_workbook(io.BytesIO(response.data)).active
                text = "\n".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None)
            elif response.mimetype == "text/html":
                # The language switch names the other language in that language: not UI text to translate.
                text = re.sub(r'<button[^>]*id="crm-language"[^>]*>[^<]*</button>', "", response.get_data(as_text=True))
            else:
                continue
            found = _chinese(text.replace(class_name, ""))
            if found:
                problems[f"{who.name} {url}"] = found
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_job_start_date_is_not_called_the_class_start_date(client):
    from crm.sales.payments.views import StudentForm

    assert str(StudentForm.placement_date.args[0]) == "入职日期"  # not 开班日期 (a class's start date)
