"""The one input guard (issue 12, item 2): API JSON, query strings, form fields."""
from __future__ import annotations

import json

import pytest

from crm.core.input_guard import MAX_CHARS, json_problem, problem
from crm.sales.models import Customer
from tests.api.test_leads_api import consultant, count, lead, make_token, post
from tests.factories import login, make_user


@pytest.mark.parametrize("text, bad", [
    ("普通文本\n第二行\tok", False), ("a\x00b", True), ("a\x1bb", True), ("a\x7fb", True),
    ("a\ud800b", True), ("x" * MAX_CHARS, False), ("x" * (MAX_CHARS + 1), True),
])
def test_problem(app, text, bad):
    with app.test_request_context():
        assert (problem(text) is not None) == bad


def test_json_problem_names_the_field_or_finds_a_bad_key(app):
    with app.test_request_context():
        assert json_problem({"a": ["ok", {"memo": "a\ud800b"}]})[0] == "memo"
        assert json_problem({"a\ud800": 1})[0] is None
        assert json_problem({"a": [1, True, None, "fine"]}) is None


@pytest.mark.parametrize("body, key", [
    (lead(memo="a\ud800b"), None),
    (lead(memo="a\ud800b"), "k-surrogate-1"),
    (dict(lead(), **{"x\ud800": "1"}), "k-surrogate-2"),
    (lead(name="a\x00b"), "k-nul"),
])
def test_api_answers_422_for_text_no_column_can_hold(client, body, key):
    consultant()
    token = make_token()
    response = post(client, None, token, key=key, raw=json.dumps(body))
    assert response.status_code == 422 and response.get_json()["errors"]
    assert count(Customer) == 0


def test_a_control_character_or_a_huge_value_in_a_query_is_refused_with_its_reason(new_client):
    client = new_client()
    login(client, make_user("admin"))
    response = client.get("/sales/leads?q=%00%3Cscript%3E")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "“q”" in text and "Contains control characters." in text and "<script>" not in text
    assert client.get("/org/schools/?search=a%1Bb").status_code == 400  # Flask-Admin's lists too
    assert client.get("/sales/leads?q=a%0Ab%09c").status_code == 200  # line breaks and tabs are text
    response = client.get("/sales/leads?q=" + "x" * (MAX_CHARS + 1))
    assert response.status_code == 400
    assert "at most" in response.get_data(as_text=True)


def test_sign_in_with_a_nul_user_name_is_a_message_not_a_500(new_client):
    client = new_client()
    response = client.post("/auth/login", data={"username": "ad\x00min", "password": "x"})
    assert response.status_code in (200, 400)
    assert "Contains control characters." in response.get_data(as_text=True)
