"""The import's row checks give exactly the lead fields' results, with their shortcuts for repeated values (S-9)."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.errors import DomainError
from crm.sales.imports.columns import COLUMNS
from crm.sales.imports.rows import RowInvalid, RowParser, json_values
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


def test_repeated_values_are_checked_once_with_the_same_result(parser, monkeypatch):
    keys = [column.key for column in COLUMNS]

    def row(**values):
        cells = {"qq": "12345678", "name": "张三", "gender": "男", "source": "官方网站", **values}
        return tuple(cells.get(key) for key in keys)

    checked = []
    real = parser._check_value
    monkeypatch.setattr(parser, "_check_value", lambda column, value: (checked.append((column.key, value)),
                                                                       real(column, value))[1])
    assert parser.parse(row())["gender"] == parser.parse(row())["gender"]
    assert checked.count(("gender", "男")) == 1 and checked.count(("qq", "12345678")) == 2  # contacts never tabled
    with pytest.raises(RowInvalid) as first:
        parser.parse(row(gender="未知"))
    with pytest.raises(RowInvalid) as again:
        parser.parse(row(gender="未知"))
    assert str(first.value) == str(again.value) and checked.count(("gender", "未知")) == 1
    # 1, 1.0 and True are equal in Python but different cells: each is checked for itself.
    assert parser.parse(row(gender=1))["gender"] == 1 and parser.parse(row(gender=1.0))["gender"] == 1
    with pytest.raises(RowInvalid):
        parser.parse(row(gender=True))
    assert {"男", (int, 1), (float, 1.0), (bool, True)} <= set(parser.known["gender"])


def test_required_cells_are_reported_before_invalid_ones(parser):
    keys = [column.key for column in COLUMNS]
    cells = {"qq": "12345678", "name": "  ", "gender": "未知", "source": None}
    with pytest.raises(RowInvalid) as error:
        parser.parse(tuple(cells.get(key) for key in keys))
    assert str(error.value) == "姓名 (Name) 为必填项。"  # name before source; the gender is not looked at


def test_a_column_of_distinct_cells_stops_being_tabled_with_the_same_results(parser):
    keys = [column.key for column in COLUMNS]

    def row(n):
        cells = {"qq": str(10000000 + n), "name": "张三", "gender": "男", "source": "官方网站", "memo": f"第 {n} 行"}
        return tuple(cells.get(key) for key in keys)

    records = [parser.parse(row(n)) for n in range(1500)]
    assert parser.known["memo"] is None  # every memo differs: no longer remembered
    assert len(parser.known["gender"]) == 1  # the choices still are
    assert [record["memo"] for record in records] == [f"第 {n} 行" for n in range(1500)]
    with pytest.raises(RowInvalid):  # still checked
        parser.parse(tuple("a\x00b" if key == "memo" else value for key, value in zip(keys, row(1500))))


def test_the_control_character_check_is_unicode_category_cc():
    import sys
    import unicodedata

    differ = [code for code in range(sys.maxunicode + 1)
              if (unicodedata.category(chr(code)) == "Cc" and chr(code) not in "\t\n\r")
              != bool(fields.TEXT_CONTROL_RE.search(chr(code)))]
    assert differ == []


def test_a_rows_cells_as_json():
    """What the error workbook and the rejected-rows page get back: every kind of cell a reader gives."""
    import decimal
    import json

    row = (dt.datetime(2026, 11, 6, 8, 30), dt.date(2026, 11, 6), dt.time(9, 5), True, 0, 12345678901, 1.5,
           float("nan"), float("inf"), -float("inf"), None, '引号"\\<b>', dt.timedelta(days=1), decimal.Decimal("1.10"))
    text = json_values(row, len(row) + 2)
    assert json.loads(text) == [
        "2026-11-06T08:30:00", "2026-11-06", "09:05:00", True, 0, 12345678901, 1.5, "nan", "inf", "-inf", None,
        '引号"\\<b>', "1 day, 0:00:00", "1.10", None, None]
    assert "引号" in text  # not \\u-escaped
    assert json_values(row[:3], 2) == '["2026-11-06T08:30:00", "2026-11-06"]'  # cut to the header's width
    assert json.loads(json_values((1.5, "x"), 2)) == [1.5, "x"]
