"""Numbers no row can have (beyond 2**31 - 1) answer 404 or a field message, never a database error.

On PostgreSQL such a number in an integer comparison raises "integer out of
range"; this suite runs on PostgreSQL in CI, so a 500 here would show.
"""
from __future__ import annotations

import pytest

from crm.api.models import ApiToken  # noqa: F401  (tables registered)
from crm.core.ids import MAX_ID, is_id
from crm.core.listing import to_int
from crm.sales.leads import fields
from tests.factories import login, make_user

HUGE = str(MAX_ID + 1)


def test_is_id_bounds():
    assert is_id(1) and is_id(MAX_ID)
    assert not is_id(0) and not is_id(-5) and not is_id(MAX_ID + 1)
    assert to_int(HUGE) is None and to_int("12") == 12 and to_int("abc") is None


@pytest.mark.parametrize("method, url", [
    ("get", f"/sales/leads/{HUGE}"),
    ("get", f"/sales/leads/{HUGE}/history"),
    ("post", f"/sales/leads/{HUGE}/follow-ups"),
    ("post", f"/sales/pool/{HUGE}/grab"),
    ("post", f"/sales/pool/{HUGE}/assign"),
    ("get", f"/sales/leads/{HUGE}/payments/new"),
    ("get", f"/sales/students/{HUGE}"),
    ("get", f"/sales/imports/{HUGE}"),
    ("get", f"/sales/imports/{HUGE}/errors.xlsx"),
])
def test_huge_ids_in_urls_are_not_found(client, method, url):
    login(client, make_user("admin"))
    assert getattr(client, method)(url).status_code == 404


@pytest.mark.parametrize("url", [
    f"/sales/leads?consultant={HUGE}&course={HUGE}",
    f"/sales/pool?course={HUGE}",
    f"/sales/imports/?page={HUGE}",
])
def test_huge_numbers_in_filters_are_ignored(client, url):
    login(client, make_user("admin"))
    assert client.get(url).status_code == 200


def test_huge_referrer_on_the_lead_form_is_a_field_message(client):
    login(client, make_user("admin"))
    response = client.post("/sales/leads/new", data={
        "qq": "2345678", "name": "钱七", "gender": "1", "source": "3", "education": "0", "experience": "0",
        "work_status": "0", "referred_by": "99999999999"})
    assert response.status_code == 400
    assert "99999999999" in response.get_data(as_text=True)


def test_intake_refuses_ids_no_row_can_have():
    """The API and the form share intake's id parser: 3,000,000,000 is a field error (422), not a 500."""
    from crm.core.errors import DomainError

    with pytest.raises(DomainError):
        fields.record_id("referred_by_id", 3_000_000_000)
    assert fields.record_id("referred_by_id", "42") == 42
