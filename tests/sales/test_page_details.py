"""Small page details: a favicon on every page, dates that do not wrap inside list cells."""
from __future__ import annotations

import re

from crm.core import clock
from tests.factories import login, make_user
from tests.sales.lead_factories import make_lead


def test_every_page_links_a_favicon_that_exists(client):
    login(client, make_user("consultant"))
    html = client.get("/sales/mine").get_data(as_text=True)
    href = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', html).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and b"<svg" in icon.data


def test_date_cells_do_not_wrap(client):
    holder = make_user("consultant")
    make_lead(holder, received_on=clock.today())
    login(client, holder)
    html = client.get("/sales/mine").get_data(as_text=True)
    cells = re.findall(r'<td[^>]*>\s*\d{4}-\d{2}-\d{2}', html)
    assert cells and all("text-nowrap" in c for c in cells)
