"""The import's row checks give exactly the lead fields' results, with their shortcuts for repeated values (S-9)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.errors import DomainError
from crm.sales.imports.columns import COLUMNS
from crm.sales.imports.rows import RowInvalid, RowParser
from crm.sales.leads import fields

EMAILS = ["Li.Si@Example.COM", "a+b@mail.qq.com", "x@localhost", "x@foo", "a..b@example.com", ".a@example.com",
          "名字@例子.中国", "user@[127.0.0.1]", "a b@example.com", "ｕｓｅｒ@example.com", "user@ｅxample.com",
          "o'brien@example.com", "a@-example.com", "a@example..com", "a@" + "x" * 64 + ".com", "@example.com",
          "a@", "plain", "a_b%c@sub.example.org", "a@example.com.", "A@B.CO", "a@b.c"]


def outcome(check, text):
    try:
        return "ok", check(text)
    except (DomainError, RowInvalid) as error:
        return "refused", str(getattr(error, "message", error))


@pytest.fixture
def parser(app):
    return RowParser([column.key for column in COLUMNS], dt.date(2026, 1, 1))


@pytest.mark.parametrize("text", EMAILS)
def test_email_shortcut_gives_the_lead_rule_result(parser, text):
    assert outcome(parser._email, text) == outcome(fields.normalise_email, text)
    assert outcome(parser._email, text) == outcome(fields.normalise_email, text)  # the domain known now


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=st.text(alphabet="abcXYZ019._%+-'!#~ ", min_size=0, max_size=12),
       domain=st.sampled_from(["example.com", "Mail.QQ.com", "localhost", "a..b", "x.test", "163.com", "b.c"]))
def test_email_shortcut_agrees_for_any_local_part(parser, local, domain):
    text = f"{local}@{domain}"
    assert outcome(parser._email, text) == outcome(fields.normalise_email, text)


def test_repeated_values_are_checked_once_with_the_same_result(parser):
    gender = next(column for column in COLUMNS if column.key == "gender")
    assert parser._parse_value(gender, "男") == parser._parse_value(gender, "男")
    with pytest.raises(RowInvalid) as first:
        parser._parse_value(gender, "未知")
    with pytest.raises(RowInvalid) as again:
        parser._parse_value(gender, "未知")
    assert str(first.value) == str(again.value)
    assert parser._parse_value(gender, 1) == 1 and parser._parse_value(gender, 1.0) == 1
    assert (("gender", str, "男") in parser.known) and (("gender", int, 1) in parser.known)
