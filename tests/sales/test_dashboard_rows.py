"""S-20 dashboard: only consultants are rows; "Received" as a count is not the date column; no line chart."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

from openpyxl import load_workbook

from crm.extensions import db
from crm.sales import choices
from crm.sales.dashboard.services import build_dashboard
from crm.sales.models import ConsultRecord, CustomerDistribution, PaymentRecord
from tests.factories import login, make_class, make_user
from tests.sales.lead_factories import make_lead

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


def test_rows_are_consultants_and_former_holders_never_directors_or_admins():
    alice = make_user("consultant", name="Alice")
    director = make_user("sales_director", name="Director")
    admin = make_user("admin", name="Admin")
    former = make_user("consultant", name="Former")
    lead = make_lead(None)
    db.session.add(CustomerDistribution(customer_id=lead.id, consultant_id=former.id, origin="auto",
                                        started_on=dt.date(2026, 3, 2), ended_on=dt.date(2026, 3, 6),
                                        status=choices.LOST_NO_FOLLOW_UP))
    former.active = False  # left in April: still answers for March
    # The director follows a lead up and records a payment: figures, but not a consultant.
    db.session.add(ConsultRecord(customer_id=lead.id, consultant_id=director.id, date=dt.date(2026, 3, 3), note="x"))
    db.session.add(PaymentRecord(customer_id=lead.id, class_id=make_class().id, pay_type=choices.PAY_TUITION,
                                 paid_amount=100, date=dt.date(2026, 3, 4), consultant_id=director.id))
    db.session.commit()
    rows = {r.user_id for r in build_dashboard(START, END).rows}
    assert alice.id in rows and former.id in rows
    assert director.id not in rows and admin.id not in rows
    assert former.id not in {r.user_id for r in build_dashboard(dt.date(2026, 4, 1), dt.date(2026, 4, 30)).rows}


def _english(client):
    from flask_babel import refresh

    client.post("/language/en")
    refresh()


def test_lead_counts_are_not_labelled_as_a_date_and_revenue_is_not_a_line(client):
    make_user("consultant", name="Alice")
    login(client, make_user("sales_director"))
    html = client.get(f"/sales/dashboard?start={START}&end={END}").get_data(as_text=True)
    assert "接收时间" not in html and "接收数" in html
    data = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', html, re.S).group(1))
    assert data["funnel"]["labels"][0] == "接收数" and data["legend"]["received"] == "接收数"
    assert "new Chart(" not in html and "/static/js/dashboard.js" in html  # the charts' code is a file
    workbook = load_workbook(io.BytesIO(client.get(f"/sales/dashboard.xlsx?start={START}&end={END}").data))
    headers = [c.value for c in next(workbook.active.iter_rows())]
    assert "接收数" in headers and "接收时间" not in headers
    script = client.get("/static/js/dashboard.js").get_data(as_text=True)
    assert "'line'" not in script and "yAxisID: 'money'" in script
    # The lead lists keep "Received" as the date column.
    assert "接收时间" in client.get("/sales/leads").get_data(as_text=True)
