"""One table of lead-field cases through the entry form, the web-to-lead API and the Excel import.

The rules live once, in crm.sales.leads.fields; every way a lead arrives must give the
same value the same answer: accepted and stored alike, or refused (S-1, S-8, S-9, S-10).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from crm.api import services as api_services
from crm.core import clock
from crm.extensions import db
from crm.sales import allocation
from crm.sales.imports.columns import COLUMNS
from crm.sales.imports.rows import RowInvalid, RowParser
from crm.sales.models import Customer, CustomerDistribution
from tests.factories import login, make_user

REFUSED = object()


class Day(NamedTuple):
    """A date `offset` days from the day the test runs, written with `fmt`.

    Worked out when the test runs, not when the module is imported: a run that crosses midnight in
    the school's time zone would otherwise send "tomorrow" as a date that has become today.
    """

    offset: int
    fmt: str = "%Y-%m-%d"

    def date(self) -> dt.date:
        return clock.today() + dt.timedelta(days=self.offset)

    def text(self) -> str:
        return self.date().strftime(self.fmt)


_qq = itertools.count(710000001)

# (field, value as a person or a website would send it, what is stored, channels that can send it).
# The entry form has no inquiry-date field and offers choices as a drop-down of codes.
ALL, NO_FORM = ("form", "api", "import"), ("api", "import")
CASES = [
    ("qq", "123456789", "123456789", ALL),
    ("qq", " 12345 ", "12345", ALL),
    ("qq", "１２３４５６", "123456", ALL),  # full-width digits
    ("qq", "012345", REFUSED, ALL),  # a QQ number never starts with 0
    ("qq", "1234", REFUSED, ALL),
    ("qq", "1234567890123", REFUSED, ALL),
    ("qq", "12a456", REFUSED, ALL),
    ("phone", "138 1234 5678", "13812345678", ALL),
    ("phone", "+86 138-1234-5678", "13812345678", ALL),
    ("phone", "010-12345678", "01012345678", ALL),
    ("phone", "12345", REFUSED, ALL),
    ("email", " Zhang.San@Example.COM ", "zhang.san@example.com", ALL),
    ("email", "not-an-address", REFUSED, ALL),
    ("email", "a@b", REFUSED, ALL),
    ("inquiry_date", Day(-3), Day(-3), NO_FORM),
    ("inquiry_date", Day(-3, "%Y/%m/%d"), Day(-3), NO_FORM),
    ("inquiry_date", Day(1), REFUSED, NO_FORM),
    ("inquiry_date", "1999-12-31", REFUSED, NO_FORM),
    ("inquiry_date", "2026-13-01", REFUSED, NO_FORM),
    ("inquiry_date", "next week", REFUSED, NO_FORM),
    ("gender", "2", 2, ALL),
    ("gender", "女", 2, NO_FORM),
    ("gender", "Female", 2, NO_FORM),
    ("gender", "3", REFUSED, ALL),
    ("gender", "未知", REFUSED, NO_FORM),
    ("source", "3", 3, ALL),
    ("source", "官方网站", 3, NO_FORM),
    ("source", "抖音", REFUSED, NO_FORM),
    ("education", "大专", 5, NO_FORM),
    ("name", "名" * 32, "名" * 32, ALL),
    ("name", "名" * 33, REFUSED, ALL),
    ("name", "a\u200bb", REFUSED, ALL),  # a zero-width space: invisible, refused everywhere
    ("company", "公" * 65, REFUSED, ALL),
    ("memo", "line one\nline two", "line one\nline two", ALL),
    ("memo", "bell\x07", REFUSED, ALL),
]


@pytest.fixture(autouse=True)
def fresh_queue(app):
    allocation.reset_state()
    yield
    allocation.reset_state()


def _base(qq: str) -> dict:
    return {"qq": qq, "name": "钱七", "gender": "1", "source": "3"}


def _stored(before: set[int]):
    """The lead saved by the attempt (the one new row), or None."""
    db.session.expire_all()
    rows = [c for c in db.session.scalars(sa.select(Customer)) if c.id not in before]
    assert len(rows) <= 1
    return rows[0] if rows else None


def _forget(customer: Customer) -> None:
    """Remove a saved lead so the next channel may send the very same QQ, phone or e-mail."""
    db.session.execute(sa.delete(CustomerDistribution).where(CustomerDistribution.customer_id == customer.id))
    db.session.execute(sa.delete(Customer).where(Customer.id == customer.id))
    db.session.commit()


def _through_form(client, field, value):
    data = {**_base(str(next(_qq))), "education": "0", "experience": "0", "work_status": "0", field: value}
    answer = client.post("/sales/leads/new", data=data)
    return answer.status_code == 302


def _through_api(client, token, field, value):
    body = {**_base(str(next(_qq))), field: value}
    answer = client.post("/api/v1/leads", data=json.dumps(body), content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (201, 422), answer.get_data(as_text=True)
    return answer.status_code == 201


def _through_import(field, value):
    keys = [column.key for column in COLUMNS]
    row = {"qq": str(next(_qq)), "name": "钱七", "gender": "男", "source": "官方网站", field: value}
    values = tuple(row.get(key) for key in keys)
    try:
        return RowParser(keys, clock.today()).parse(values)
    except RowInvalid:
        return None


@pytest.mark.parametrize("field, value, expected, channels", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_same_value_gets_the_same_answer_through_form_api_and_import(client, field, value, expected,
                                                                          channels):
    value = value.text() if isinstance(value, Day) else value
    expected = expected.date() if isinstance(expected, Day) else expected
    login(client, make_user("staff"))
    token = None
    if "api" in channels:
        token_row, token = api_services.create_token(None, name="官网", rate_per_minute=1000)
        db.session.commit()
    answers = {}
    for channel in channels:
        before = set(db.session.scalars(sa.select(Customer.id)))
        if channel == "import":
            record = _through_import(field, value)
            answers[channel] = REFUSED if record is None else record[field]
            continue
        accepted = _through_form(client, field, value) if channel == "form" else _through_api(
            client, token, field, value)
        saved = _stored(before)
        assert accepted == (saved is not None)
        answers[channel] = REFUSED if saved is None else getattr(saved, field)
        if saved is not None:
            _forget(saved)
    assert answers == {channel: expected for channel in channels}
