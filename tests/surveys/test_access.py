"""Every survey endpoint × every demo role (and anonymous): the status each gets (P-3, Q-4)."""
from __future__ import annotations

import pytest

from crm.auth.catalog import DEFAULT_ROLES
from crm.extensions import db
from tests.factories import login, make_student, make_user
from tests.surveys.helpers import make_survey, make_tutored_class

ROLES = sorted(DEFAULT_ROLES)
OK, FORBIDDEN = 200, 403

# Written out by hand so a wrong rule cannot agree with itself. The tutor is the class's tutor,
# the student a student of the class; every other account has no tie to the survey.
EXPECTED = {
    "surveys.index": {"admin": OK, "ceo": OK, "tutor": OK},
    "surveys.new": {"admin": OK, "tutor": OK},
    "surveys.edit": {"admin": OK, "tutor": OK},
    "surveys.publish": {"admin": 302, "tutor": 302},
    "surveys.copy": {"admin": OK, "tutor": OK},
    "surveys.results_page": {"admin": OK, "ceo": OK, "tutor": OK},
    "surveys.export": {"admin": OK, "ceo": OK, "tutor": OK},
    "surveys.mine": {"admin": OK, "student": OK},
    "surveys.take": {"student": OK},
}
POST_ONLY = {"surveys.publish"}


def _urls(open_survey, draft):
    return {
        "surveys.index": "/surveys/",
        "surveys.new": "/surveys/new",
        "surveys.edit": f"/surveys/{draft.id}/edit",
        "surveys.publish": f"/surveys/{draft.id}/publish",
        "surveys.copy": f"/surveys/{open_survey.id}/copy",
        "surveys.results_page": f"/surveys/{open_survey.id}/results",
        "surveys.export": f"/surveys/{open_survey.id}/export",
        "surveys.mine": "/surveys/mine",
        "surveys.take": f"/surveys/{open_survey.id}/answer",
    }


def test_every_survey_endpoint_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("surveys.")}
    assert endpoints == set(EXPECTED)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_each_role_gets_exactly_its_pages(client, role):
    tutor, klass, (student, *_rest) = make_tutored_class(1)
    open_survey = make_survey(tutor, klass)
    draft = make_survey(tutor, klass, publish=False)
    if role == "tutor":
        user = tutor
    elif role == "student":
        user = student.user
    elif role is not None:
        user = make_user(role)
    db.session.commit()
    if role is not None:
        login(client, user)
    got, wanted = {}, {}
    for endpoint, url in _urls(open_survey, draft).items():
        response = client.post(url) if endpoint in POST_ONLY else client.get(url)
        got[endpoint] = response.status_code
        response.close()  # the export streams from a temporary file
        if role is None:
            wanted[endpoint] = 302
            assert "/auth/login" in response.headers.get("Location", "")
        else:
            wanted[endpoint] = EXPECTED[endpoint].get(role, FORBIDDEN)
    assert got == wanted


def test_a_student_of_another_class_cannot_open_the_answer_page(client):
    tutor, klass, _students = make_tutored_class(1)
    survey = make_survey(tutor, klass)
    outsider = make_student(make_tutored_class(0)[1])
    login(client, outsider.user)
    response = client.get(f"/surveys/{survey.id}/answer")
    assert response.status_code == 403
    assert client.post(f"/surveys/{survey.id}/answer", data={}).status_code == 403
