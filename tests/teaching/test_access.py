"""Every teaching endpoint × every demo role: permission first, then the row rules of T-9."""
from __future__ import annotations

import io

import pytest

from crm.auth.catalog import codes_for_role
from crm.core.access import access_for
from crm.core.clock import utcnow
from crm.demo import DEMO_ACCOUNTS
from crm.extensions import db
from crm.students.models import Student
from crm.teaching import homework
from crm.teaching.rules import SEES_ALL
from tests.teaching.helpers import (
    initialise,
    make_session,
    make_setup,
    make_student,
    make_user,
    record_for,
    sign_in_as,
)

ROLES = sorted({role for _username, _name, role, _dept in DEMO_ACCOUNTS})
# Endpoints whose rows belong to a class (T-9) or to one student (the portal's records).
CLASS_SCOPED = {
    "teaching.class_sessions", "teaching.roster", "teaching.session_create", "teaching.session_edit",
    "teaching.initialise", "teaching.export_attendance", "teaching.export_grades", "teaching.session_detail",
    "teaching.attendance_bulk", "teaching.attendance_grid", "teaching.scores", "teaching.student_portal",
}
OWNER_SCOPED = {"teaching.homework_upload"}  # only the student who owns the record
UNSCOPED = {"teaching.my_classes", "teaching.portal"}


@pytest.fixture
def world(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_HOMEWORK_DIR", str(tmp_path))
    setup = make_setup()
    session = make_session(setup.klass, 1, has_homework=True)
    owner = make_student(setup.klass)
    initialise(setup.teacher, session)
    record = record_for(session, owner)
    homework.submit_homework(owner.user, record.id, io.BytesIO(b"%PDF-1.4 x"), "a.pdf", "", now=utcnow())
    db.session.commit()
    ids = {"class_id": setup.klass.id, "session_id": session.id, "record_id": record.id, "student_id": owner.id}
    return setup, ids


def _teaching_rules(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("teaching.")]
    assert len(rules) >= 16
    return rules


def _request(client, rule, ids):
    url = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url, data={})


def test_every_teaching_endpoint_is_classified(app):
    endpoints = {rule.endpoint for rule in _teaching_rules(app)}
    assert endpoints - {"teaching.homework_download"} == CLASS_SCOPED | OWNER_SCOPED | UNSCOPED


@pytest.mark.parametrize("role", ROLES)
def test_every_teaching_endpoint_for_a_role_outside_the_class(app, client, world, role):
    _setup, ids = world
    user = make_user(role, kind="student" if role == "student" else "staff")
    codes = codes_for_role(role)
    sign_in_as(client, user)
    for rule in _teaching_rules(app):
        declared = access_for(app, rule.endpoint)
        may = bool(set(declared) & codes)
        if rule.endpoint in CLASS_SCOPED:
            may = may and SEES_ALL in codes
        elif rule.endpoint == "teaching.homework_download":  # staff of the class (all, for directors)
            may = "teaching.session.view" in codes and SEES_ALL in codes
        elif rule.endpoint in OWNER_SCOPED:
            may = False  # the record is someone else's
        response = _request(client, rule, ids)
        if may:
            assert response.status_code in (200, 302), (role, rule.endpoint, response.status_code)
        else:
            assert response.status_code == 403, (role, rule.endpoint, response.status_code)


@pytest.mark.parametrize("who", ["teacher", "tutor"])
def test_the_class_staff_reach_every_page_their_permissions_allow(app, client, world, who):
    setup, ids = world
    user = getattr(setup, who)
    codes = codes_for_role(who)
    sign_in_as(client, user)
    for rule in _teaching_rules(app):
        may = bool(set(access_for(app, rule.endpoint)) & codes) and rule.endpoint not in OWNER_SCOPED
        response = _request(client, rule, ids)
        expected = (200, 302) if may else (403,)
        assert response.status_code in expected, (who, rule.endpoint, response.status_code)


def test_the_owner_reaches_their_homework_and_portal_only(app, client, world):
    setup, ids = world
    owner = db.session.get(Student, ids["student_id"]).user
    sign_in_as(client, owner)
    allowed = {"teaching.portal", "teaching.homework_upload", "teaching.homework_download"}
    for rule in _teaching_rules(app):
        response = _request(client, rule, ids)
        if rule.endpoint in allowed:
            assert response.status_code in (200, 302), rule.endpoint
        else:
            assert response.status_code == 403, (rule.endpoint, response.status_code)


def test_anonymous_visitors_are_sent_to_sign_in(app, client, world):
    _setup, ids = world
    for rule in _teaching_rules(app):
        response = _request(client, rule, ids)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], rule.endpoint


def test_unknown_ids_are_404_not_500(app, client, world):
    _setup, ids = world
    sign_in_as(client, make_user("admin"))
    for rule in _teaching_rules(app):
        if not rule.arguments:
            continue
        for bad in (2**31 - 1, 2**31, 10**20):
            response = _request(client, rule, {name: bad for name in ids})
            assert response.status_code in (404, 405), (rule.endpoint, bad, response.status_code)
