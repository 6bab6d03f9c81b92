"""crm.core.listing.row_urls: a page's row links without a route build per row."""
from __future__ import annotations

import pytest
from flask import url_for

from crm.core.listing import row_urls


@pytest.mark.parametrize("values", [{}, {"next": "/sales/leads?q=王伟&page=2"}, {"next": "/a b?x=<script>&y=%"}])
def test_each_row_url_is_what_url_for_builds(app, values):
    with app.test_request_context("/sales/leads", base_url="http://crm.example/school"):
        make = row_urls("sales.lead_detail", "customer_id", **values)
        for row_id in (1, 7, 42, 987654321, 2**31 - 1):
            assert make(row_id) == url_for("sales.lead_detail", customer_id=row_id, **values)
        assert make(5).startswith("/school/")


def test_an_argument_outside_the_path_is_refused(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="customer_id"):
        row_urls("sales.lead_list", "customer_id")
