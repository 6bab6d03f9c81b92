"""Revocable sessions and remember-me cookies (issue 12, item 4)."""
from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime

from crm.extensions import db
from tests.auth.conftest import FreshUserClient
from tests.factories import PASSWORD, login, make_user

NEW_PASSWORD = "another-pass-77"


def signed_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200 and "/auth/login" not in (response.location or "")


def copy_of(new_client, source, *names: str):
    """A second client from the same address holding copies of `source`'s cookies (and no others)."""
    thief = FreshUserClient(source.application, source.application.response_class, use_cookies=True)
    thief.environ_base["REMOTE_ADDR"] = source.environ_base["REMOTE_ADDR"]
    for name in names:
        cookie = source.get_cookie(name)
        thief.set_cookie(name, cookie.value)
    return thief


def remembered_client(new_client, user):
    client = new_client()
    client.post("/auth/login", data={"username": user.username, "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    return client


def test_a_copied_session_cookie_dies_with_logout(new_client):
    user = make_user("consultant")
    client = new_client()
    login(client, user)
    thief = copy_of(new_client, client, "session")
    assert signed_in(thief)
    client.post("/auth/logout")
    assert not signed_in(thief)
    assert not signed_in(client)


def test_logout_also_ends_remember_cookies_of_other_devices(new_client):
    user = make_user("consultant")
    phone = remembered_client(new_client, user)
    laptop = new_client()
    login(laptop, user)
    only_remember = copy_of(new_client, phone, "remember_token")
    stolen = copy_of(new_client, phone, "remember_token")
    assert signed_in(only_remember)  # the remember cookie alone signs in
    laptop.post("/auth/logout")
    assert not signed_in(phone)
    assert not signed_in(stolen)


def test_own_password_change_ends_other_sessions_but_not_this_one(new_client):
    user = make_user("consultant")
    other = remembered_client(new_client, user)
    stolen = copy_of(new_client, other, "remember_token")
    client = new_client()
    login(client, user)
    response = client.post("/auth/password", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert signed_in(client)
    assert not signed_in(other)
    assert not signed_in(stolen)


def test_an_admin_reset_ends_every_session_of_the_account(new_client):
    user = make_user("consultant")
    victim = remembered_client(new_client, user)
    admin = new_client()
    login(admin, make_user("admin"))
    assert admin.post(f"/auth/users/{user.id}/reset-password").status_code in (200, 302)
    assert not signed_in(victim)


def test_a_cookie_from_before_a_deactivation_stays_dead_after_reactivation(new_client):
    user = make_user("consultant")
    victim = remembered_client(new_client, user)
    saved = copy_of(new_client, victim, "session", "remember_token")
    admin = new_client()
    login(admin, make_user("admin"))
    admin.post(f"/auth/users/{user.id}/deactivate")
    admin.post(f"/auth/users/{user.id}/activate")
    db.session.refresh(user)
    assert user.active
    assert not signed_in(saved)


def test_remember_cookie_attributes_and_rotation(app, new_client):
    user = make_user("consultant")
    first = new_client()
    response = first.post("/auth/login", data={"username": user.username, "password": PASSWORD, "remember": "y"})
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "SameSite=Lax" in header and "HttpOnly" in header
    expires = parsedate_to_datetime(header.split("Expires=", 1)[1].split(";", 1)[0])
    assert abs((expires - dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=14)) < dt.timedelta(minutes=5)
    assert app.config["CRM_REMEMBER_DAYS"] == 14
    second = remembered_client(new_client, user)
    assert first.get_cookie("remember_token").value != second.get_cookie("remember_token").value
    assert signed_in(copy_of(new_client, first, "remember_token"))  # both sign-ins stay valid


def test_a_forged_or_old_style_session_id_is_refused(app):
    from crm.auth.sessions import user_for_token

    user = make_user("consultant")
    assert user_for_token(f"{user.id}") is None
    assert user_for_token(f"{user.id}:{user.session_version + 1}:x") is None
    assert user_for_token(f"{2**70}:1:x") is None
    assert user_for_token(f"{user.id}:{user.session_version}:x") is user
