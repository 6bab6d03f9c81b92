"""S-20 dashboard figures against a hand-computed fixture; visibility; export; S-7 proposal."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from crm.extensions import db
from crm.sales import choices
from crm.sales.dashboard.services import build_dashboard, propose_weights
from crm.sales.models import ConsultRecord, CustomerDistribution, PaymentRecord, SaleRank
from tests.factories import login, make_class, make_user
from tests.sales.lead_factories import make_lead

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


def holding(lead, user, origin, started, ended=None, status=choices.FOLLOWING):
    db.session.add(CustomerDistribution(customer_id=lead.id, consultant_id=user.id, origin=origin,
                                        started_on=started, ended_on=ended, status=status))


@pytest.fixture
def fixture_data():
    alice, bob = make_user("consultant", name="Alice"), make_user("consultant", name="Bob")
    klass = make_class()
    leads = [make_lead(None) for _ in range(8)]
    # Alice: received 4 in March (2 auto, 1 grab, 1 import); 1 in February (not counted as received).
    holding(leads[0], alice, "auto", dt.date(2026, 3, 2), dt.date(2026, 3, 10), choices.CONVERTED)
    holding(leads[1], alice, "auto", dt.date(2026, 3, 3), dt.date(2026, 3, 7), choices.LOST_NO_FOLLOW_UP)
    holding(leads[2], alice, "grab", dt.date(2026, 3, 5))
    holding(leads[3], alice, "import", dt.date(2026, 3, 6), dt.date(2026, 3, 22), choices.LOST_NO_CONVERSION)
    holding(leads[4], alice, "auto", dt.date(2026, 2, 20), dt.date(2026, 3, 1), choices.CONVERTED)
    # Bob: 2 received (assign, api), 1 converted; a conversion in April does not count.
    holding(leads[5], bob, "assign", dt.date(2026, 3, 10), dt.date(2026, 3, 31), choices.CONVERTED)
    holding(leads[6], bob, "api", dt.date(2026, 3, 30), dt.date(2026, 4, 2), choices.CONVERTED)
    for day, lead, user in ((3, 0, alice), (4, 0, alice), (5, 2, alice), (11, 5, bob)):
        db.session.add(ConsultRecord(customer_id=leads[lead].id, consultant_id=user.id,
                                     date=dt.date(2026, 3, day), note="call"))
    db.session.add(ConsultRecord(customer_id=leads[0].id, consultant_id=alice.id, date=dt.date(2026, 4, 1), note="x"))
    for user, kind, amount, day in ((alice, 1, 500, 10), (alice, 2, 9000, 12), (alice, 5, 300, 20),
                                    (alice, 3, 0, 21), (bob, 2, 12000, 31), (bob, 2, 7000, 1)):
        month = 4 if (user is bob and day == 1) else 3
        db.session.add(PaymentRecord(customer_id=leads[7].id, class_id=klass.id, pay_type=kind, paid_amount=amount,
                                     date=dt.date(2026, month, day), consultant_id=user.id))
    db.session.commit()
    return alice, bob


def test_figures_equal_the_hand_computed_fixture(fixture_data):
    alice, bob = fixture_data
    rows = {r.user_id: r for r in build_dashboard(START, END).rows}
    a, b = rows[alice.id], rows[bob.id]
    assert a.received == {"auto": 2, "import": 1, "api": 0, "grab": 1, "assign": 0}
    assert (a.received_total, a.follow_ups, a.followed_leads) == (4, 3, 2)
    assert (a.converted, a.lost) == (2, {3: 1, 4: 1})  # leads[4] ended 1 March: converted in March
    assert a.conversion_rate == pytest.approx(0.5)
    assert a.revenue == 500 + 9000 - 300
    assert (b.received_total, b.received["assign"], b.received["api"]) == (2, 1, 1)
    assert (b.follow_ups, b.converted, b.lost_total, b.conversion_rate, b.revenue) == (1, 1, 0, 1.0, 12000)


def test_consultant_sees_only_their_row_director_sees_all(client, fixture_data):
    alice, bob = fixture_data
    login(client, alice)
    html = client.get("/sales/dashboard?start=2026-03-01&end=2026-03-31").get_data(as_text=True)
    assert f'data-consultant="{alice.id}"' in html and f'data-consultant="{bob.id}"' not in html
    assert 'id="dashboard-data"' in html
    export = client.get("/sales/dashboard.xlsx?start=2026-03-01&end=2026-03-31")
    sheet = load_workbook(io.BytesIO(export.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2 and values[1][0] == "Alice"
    client.post("/auth/logout")
    login(client, make_user("sales_director"))
    html = client.get("/sales/dashboard?start=2026-03-01&end=2026-03-31").get_data(as_text=True)
    assert f'data-consultant="{alice.id}"' in html and f'data-consultant="{bob.id}"' in html
    assert client.get("/sales/dashboard?start=2026-04-01&end=2026-03-01").status_code == 200
    assert client.get("/sales/dashboard?start=garbage&end=<script>").status_code == 200


def test_chart_data_is_json_not_markup(client):
    make_user("consultant", name="</script><script>alert(1)</script>")
    director = make_user("sales_director")
    login(client, director)
    html = client.get("/sales/dashboard").get_data(as_text=True)
    assert "</script><script>alert(1)" not in html
    assert "\\u003c/script\\u003e" in html


def test_weight_proposal_is_proportional_to_conversion_rate(client, fixture_data):
    alice, bob = fixture_data
    carol = make_user("consultant", name="Carol")
    for user, weight in ((alice, 3), (bob, 5), (carol, 7)):
        db.session.add(SaleRank(user_id=user.id, num=1, weight=weight))
    db.session.commit()
    proposals = {p.user_id: p for p in propose_weights(START, END)}
    assert proposals[bob.id].proposed_weight == 100  # rate 1.0
    assert proposals[alice.id].proposed_weight == 50  # rate 0.5
    assert proposals[carol.id].proposed_weight == 7  # nothing closed: keeps its weight
    director = make_user("sales_director")
    login(client, director)
    html = client.get("/sales/allocation/weight-proposal?start=2026-03-01&end=2026-03-31").get_data(as_text=True)
    assert 'data-proposed="100"' in html and 'data-proposed="50"' in html
