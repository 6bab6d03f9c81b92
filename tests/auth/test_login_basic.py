"""Sign-in, sign-out, throttling, deactivation, safe redirects and password storage (P-1)."""
import uuid

import pytest
import sqlalchemy as sa

from crm.auth import signin
from crm.auth.models import User
from crm.extensions import db
from tests.auth.conftest import expire_now, fresh_ip, one_time_password
from tests.factories import PASSWORD, login, logout, make_user


def test_login_and_logout(app, new_client):
    user = make_user("admin")
    client = new_client()
    response = login(client, user)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert user.name in page.get_data(as_text=True)
    assert db.session.get(User, user.id).last_login_at is not None
    response = logout(client)
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_logout_needs_post(app, new_client):
    user = make_user("admin")
    client = new_client()
    login(client, user)
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_wrong_password_and_unknown_user(app, new_client):
    user = make_user("admin")
    client = new_client()
    response = login(client, user, password="nope-nope-1")
    assert response.status_code == 200
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    response = login(client, "nobody-" + uuid.uuid4().hex[:6])
    assert "Wrong user name or password." in response.get_data(as_text=True)


def test_empty_login_form_is_refused_with_field_messages(app, new_client):
    client = new_client()
    response = client.post("/auth/login", data={"username": "", "password": ""})
    assert response.status_code == 200
    assert "invalid-feedback" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_account_locks_after_five_failures_with_clear_message(app, redis_client, new_client):
    user = make_user("admin")
    client = new_client()
    for _ in range(app.config["CRM_LOGIN_MAX_FAILURES"]):
        assert login(client, user, password="wrong-pass-1").status_code == 200
    # Now even the right password is refused, with a message naming the wait.
    response = login(client, user)
    assert response.status_code == 429
    text = response.get_data(as_text=True)
    assert "Too many failed sign-ins" in text
    assert "15 minutes" in text
    assert client.get("/").status_code == 302
    # Another address cannot sign in to the locked account either.
    other = new_client()
    assert login(other, user).status_code == 429
    # The lock is held in Redis for the configured time.
    user_key, _ip_key = signin.failure_keys(user.username, "")
    assert 14 * 60 < redis_client.ttl(user_key) <= 15 * 60


def test_account_lock_expires(app, redis_client, new_client):
    user = make_user("admin")
    ip = fresh_ip()
    client = new_client(ip)
    for _ in range(5):
        login(client, user, password="wrong-pass-1")
    assert login(client, user).status_code == 429
    expire_now(redis_client, *signin.failure_keys(user.username, ip))
    response = login(client, user)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_success_resets_the_account_counter(app, redis_client, new_client):
    user = make_user("admin")
    client = new_client()
    for _ in range(4):
        login(client, user, password="wrong-pass-1")
    assert login(client, user).status_code == 302
    logout(client)
    for _ in range(4):
        login(client, user, password="wrong-pass-1")
    assert login(client, user).status_code == 302


def test_address_locks_after_four_times_the_account_limit(app, redis_client, new_client):
    ip = fresh_ip()
    client = new_client(ip)
    limit = app.config["CRM_LOGIN_MAX_FAILURES"] * 4
    # Spread the guesses over many names so no single account locks.
    for n in range(limit):
        response = login(client, f"guess{n}-{uuid.uuid4().hex[:6]}", password="wrong-pass-1")
        assert response.status_code == 200, n
    victim = make_user("admin")
    response = login(client, victim)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # The same account from another address is fine: only the address is locked.
    other = new_client()
    assert login(other, victim).status_code == 302
    # And the address lock ends when its key expires.
    expire_now(redis_client, signin.failure_keys("", ip)[1])
    assert login(client, victim).status_code == 302


def test_successful_sign_ins_do_not_count_against_the_address(app, new_client, monkeypatch):
    # A school behind one NAT address signs in many times a day; only failures count.
    monkeypatch.setitem(app.config, "CRM_LOGIN_MAX_FAILURES_IP", 3)
    ip = fresh_ip()
    user = make_user("admin")
    client = new_client(ip)
    for _ in range(5):
        assert login(client, user).status_code == 302
        logout(client)
    for n in range(3):
        login(client, f"ghost{n}-{uuid.uuid4().hex[:6]}", password="wrong-pass-1")
    assert login(client, user).status_code == 429


def test_deactivated_user_cannot_sign_in(app, new_client):
    user = make_user("admin", active=False)
    client = new_client()
    response = login(client, user)
    assert response.status_code == 200
    assert "This account has been deactivated" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_deactivated_user_is_signed_out_on_next_request(app, new_client):
    admin = make_user("admin")
    victim = make_user("admin")
    victim_client = new_client()
    login(victim_client, victim)
    assert victim_client.get("/").status_code == 200
    admin_client = new_client()
    login(admin_client, admin)
    response = admin_client.post(f"/auth/users/{victim.id}/deactivate")
    assert response.status_code == 302
    response = victim_client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
    # Signed out for good: the next request is anonymous too.
    assert "/auth/login" in victim_client.get("/org/classes/").headers["Location"]
    page = victim_client.get("/auth/login").get_data(as_text=True)
    assert "Your account has been deactivated" in page


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil", "http:/evil.example",
                                    "javascript:alert(1)", "evil.example/x"])
def test_next_to_another_site_is_refused(app, target, new_client):
    user = make_user("admin")
    client = new_client()
    response = client.post("/auth/login", data={"username": user.username, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_local_path_is_honoured(app, new_client):
    user = make_user("admin")
    client = new_client()
    # The login page carries ?next= into the form, as after a redirect to sign in.
    redirect = client.get("/org/classes/")
    assert "next=" in redirect.headers["Location"]
    page = client.get("/auth/login?next=/org/classes/").get_data(as_text=True)
    assert 'value="/org/classes/"' in page
    response = client.post(
        "/auth/login", data={"username": user.username, "password": PASSWORD, "next": "/org/classes/"}
    )
    assert response.headers["Location"] == "/org/classes/"


def test_password_is_stored_as_scrypt_hash_only(app, new_client):
    plain = "Very-secret-77"
    user = make_user("admin", password=plain)
    row = db.session.execute(sa.text("SELECT * FROM users WHERE id = :id"), {"id": user.id}).mappings().one()
    assert row["password_hash"].startswith("scrypt:")
    assert all(plain not in str(value) for value in row.values())
    client = new_client()
    assert login(client, user, password=plain).status_code == 302


def test_new_account_must_change_password_first(app, new_client):
    admin = make_user("admin")
    client = new_client()
    login(client, admin)
    response = client.post("/auth/users/new", data={
        "username": "newbie" + uuid.uuid4().hex[:6], "name": "Newbie", "kind": "staff", "department_id": "0",
    })
    assert response.status_code == 200
    password = one_time_password(response.get_data(as_text=True))
    created = db.session.scalar(sa.select(User).where(User.name == "Newbie"))
    assert created.must_change_password
    logout(client)

    first = new_client()
    response = login(first, created, password=password)
    assert response.headers["Location"].endswith("/auth/password")
    # Every page sends them back until the password is changed.
    assert first.get("/").headers["Location"].endswith("/auth/password")
    response = first.post("/auth/password", data={
        "current_password": password, "password": "Fresh-pass-42", "confirm": "Fresh-pass-42",
    })
    assert response.status_code == 302
    assert first.get("/").status_code == 200
    db.session.expire_all()
    assert not db.session.get(User, created.id).must_change_password


def test_reactivation_does_not_resume_an_ended_session(app, new_client):
    admin = make_user("admin")
    victim = make_user("admin")
    victim_client = new_client()
    login(victim_client, victim)
    admin_client = new_client()
    login(admin_client, admin)
    admin_client.post(f"/auth/users/{victim.id}/deactivate")
    victim_client.get("/")
    admin_client.post(f"/auth/users/{victim.id}/activate")
    assert db.session.get(User, victim.id).active
    assert victim_client.get("/").status_code == 302
    with victim_client.session_transaction() as session:
        assert "_user_id" not in session


def test_user_name_is_matched_whatever_its_case(client):
    user = make_user("admin", username="Mixed" + "Case")
    response = login(client, user.username.upper())
    assert response.status_code == 302
    assert client.get("/").status_code == 200
