"""Every sales page as the right role, a wrong role (403) and anonymous (→ login); bad ids → 404."""
from __future__ import annotations

import pytest

from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead

# page, a role that may open it, a role that may not
PAGES = [
    ("/sales/leads/new", "staff", "tutor"),
    ("/sales/mine", "consultant", "staff"),
    ("/sales/leads", "sales_director", "consultant"),
    ("/sales/leads/export.xlsx", "ceo", "consultant"),
    ("/sales/allocation", "sales_director", "consultant"),
]


@pytest.mark.parametrize("url", [p[0] for p in PAGES])
def test_anonymous_goes_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("url,allowed,refused", PAGES)
def test_page_by_role(client, url, allowed, refused):
    login(client, make_user(refused))
    assert client.get(url).status_code == 403
    client.post("/auth/logout")
    login(client, make_user(allowed))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("suffix", ["", "/history", "/edit"])
def test_lead_pages_anonymous_and_wrong_role(client, suffix):
    holder = make_user("consultant")
    lead = make_lead(holder)
    url = f"/sales/leads/{lead.id}{suffix}"
    assert "/auth/login" in client.get(url).headers["Location"]
    login(client, make_user("tutor"))
    assert client.get(url).status_code == 403
    client.post("/auth/logout")
    login(client, holder)
    assert client.get(url).status_code == 200


def test_follow_up_post_anonymous_and_wrong_role(client):
    lead = make_lead(make_user("consultant"))
    url = f"/sales/leads/{lead.id}/follow-ups"
    assert "/auth/login" in client.post(url, data={"note": "hi"}).headers["Location"]
    login(client, make_user("staff"))
    assert client.post(url, data={"note": "hi"}).status_code == 403


@pytest.mark.parametrize("url", [
    "/sales/leads/abc", "/sales/leads/-1", "/sales/leads/0", "/sales/leads/99999999",
    "/sales/leads/999999999999999999999999", "/sales/leads/99999999/edit", "/sales/leads/99999999/history",
    "/sales/leads/1.5", "/sales/leads/%00",
])
def test_bad_ids_are_404(client, url):
    login(client, make_user("sales_director"))
    assert client.get(url).status_code == 404


def test_follow_up_on_missing_lead_is_404(client):
    login(client, make_user("sales_director"))
    assert client.post("/sales/leads/99999999/follow-ups", data={"note": "x"}).status_code == 404
    assert client.post("/sales/leads/abc/follow-ups", data={"note": "x"}).status_code == 404


def test_sales_menu_entries_follow_permissions(client):
    login(client, make_user("consultant"))
    html = client.get("/").get_data(as_text=True)
    assert 'data-endpoint="sales.my_customers"' in html
    assert 'data-endpoint="sales.lead_new"' in html
    assert 'data-endpoint="sales.lead_list"' not in html
    assert 'data-endpoint="sales.allocation_table"' not in html
    client.post("/auth/logout")
    login(client, make_user("sales_director"))
    html = client.get("/").get_data(as_text=True)
    for endpoint in ("sales.lead_new", "sales.my_customers", "sales.lead_list", "sales.allocation_table"):
        assert f'data-endpoint="{endpoint}"' in html
