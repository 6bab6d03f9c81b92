"""`flask crm ...` administration commands (P-8)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import url_for

from crm.auth.catalog import PERMISSIONS, codes_for_role
from crm.auth.models import Permission, Role, User, role_permissions
from crm.extensions import db
from tests.catalogs import compile_catalogs
from tests.factories import login

GOOD_PASSWORD = "Headmaster-2026"


@pytest.fixture(autouse=True, scope="module")
def chinese_catalogue():
    """Messages below are checked in Chinese, the default language."""
    compile_catalogs()


def run(app, *args, input=None):
    """Invoke `flask crm <args>` against the test app."""
    return app.test_cli_runner().invoke(args=["crm", *args], input=input)


def count_rows() -> dict[str, int]:
    """Rows per table."""
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def role_codes(name: str) -> set[str]:
    """Codes the named role holds in the database."""
    role = db.session.scalar(sa.select(Role).where(Role.name == name))
    return {p.code for p in role.permissions}


def test_create_admin_creates_an_administrator_who_can_sign_in(app, client):
    result = run(app, "create-admin", "--username", "headmaster", "--name", "校长",
                 "--email", "head@school.example", "--password", GOOD_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "administrator headmaster created" in result.output

    user = db.session.scalar(sa.select(User).where(User.username == "headmaster"))
    assert user.name == "校长"
    assert [r.name for r in user.roles] == ["admin"]
    assert user.must_change_password is False
    assert login(client, "headmaster", GOOD_PASSWORD).status_code == 302
    with app.test_request_context():
        users_page = url_for("users.index_view")
    assert client.get(users_page).status_code == 200


def test_create_admin_asks_for_missing_values(app):
    result = run(app, "create-admin", input=f"asker\n{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(User.name).where(User.username == "asker")) == "asker"


def test_create_admin_refuses_a_duplicate_cleanly(app):
    assert run(app, "create-admin", "--username", "twice", "--password", GOOD_PASSWORD).exit_code == 0
    result = run(app, "create-admin", "--username", "twice", "--password", "Another-pass-9")

    assert result.exit_code == 1
    # Outside a request the messages are in the default language, Chinese.
    assert "Error: 用户名 twice 已被占用。" in result.output
    assert "Traceback" not in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.username == "twice")) == 1


def test_create_admin_refuses_a_weak_password_and_a_bad_user_name(app):
    weak = run(app, "create-admin", "--username", "weakling", "--password", "short")
    assert weak.exit_code == 1
    assert "Error: 密码至少需要 8 个字符" in weak.output

    bad = run(app, "create-admin", "--username", "has space", "--password", GOOD_PASSWORD)
    assert bad.exit_code == 1
    assert "Error: 用户名只能包含" in bad.output
    assert db.session.scalar(sa.select(User.id).where(User.username.in_(["weakling", "has space"]))) is None


def test_seed_demo_loads_once_and_a_second_run_creates_nothing(app):
    first = run(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "demo data loaded" in first.output
    usernames = set(db.session.scalars(sa.select(User.username)))
    assert {"admin", "ceo", "director", "sales1", "tutor1", "teacher1", "staff1", "student1"} <= usernames
    student = db.session.scalar(sa.select(User).where(User.username == "student1"))
    assert student.kind == User.KIND_STUDENT
    assert student.check_password("demo1234")
    before = count_rows()

    second = run(app, "seed-demo")
    assert second.exit_code == 0, second.output
    assert "demo data already present" in second.output
    assert count_rows() == before


def test_seed_demo_takes_another_password(app):
    assert run(app, "seed-demo", "--password", "Other-demo-77").exit_code == 0
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    assert admin.check_password("Other-demo-77")
    assert not admin.check_password("demo1234")


def test_sync_rbac_restores_the_catalogue_and_is_idempotent(app):
    assert "permissions added: 0, roles added: 0" in run(app, "sync-rbac").output

    # An administrator removed the staff role; sync-rbac recreates it with its defaults.
    staff = db.session.scalar(sa.select(Role).where(Role.name == "staff"))
    staff.permissions = []
    db.session.flush()
    db.session.delete(staff)
    # The admin role lost a code by a hand edit: the administrator always gets every code back.
    admin = db.session.scalar(sa.select(Role).where(Role.name == "admin"))
    admin.permissions = [p for p in admin.permissions if p.code != "auth.user.edit"]
    # A consultant's grant removed by hand stays removed (only new codes are granted).
    consultant = db.session.scalar(sa.select(Role).where(Role.name == "consultant"))
    consultant.permissions = [p for p in consultant.permissions if p.code != "sales.pool.grab"]
    db.session.commit()

    result = run(app, "sync-rbac")
    assert result.exit_code == 0, result.output
    assert "permissions added: 0, roles added: 1" in result.output
    assert role_codes("staff") == codes_for_role("staff")
    assert role_codes("admin") == set(PERMISSIONS)
    assert role_codes("consultant") == codes_for_role("consultant") - {"sales.pool.grab"}

    assert "permissions added: 0, roles added: 0" in run(app, "sync-rbac").output


def test_sync_rbac_adds_a_code_missing_from_the_database(app):
    code = "api.token.manage"
    permission = db.session.scalar(sa.select(Permission).where(Permission.code == code))
    db.session.execute(sa.delete(role_permissions).where(role_permissions.c.permission_id == permission.id))
    db.session.delete(permission)
    db.session.commit()

    result = run(app, "sync-rbac")
    assert "permissions added: 1, roles added: 0" in result.output
    assert code in role_codes("admin")
    assert db.session.scalar(sa.select(Permission.area).where(Permission.code == code)) == "api"


def test_check_gives_a_verdict_per_connection(app, smtp_server):
    result = run(app, "check")
    assert result.exit_code == 0, result.output
    for item in ("configuration", "database", "redis", "broker", "smtp"):
        assert any(line.startswith("OK") and item in line for line in result.output.splitlines()), result.output
    assert "all checks passed" in result.output


def test_check_fails_clearly_when_smtp_and_redis_do_not_answer(app, monkeypatch):
    import redis as redis_lib

    from tests.smtp_fixtures import free_port

    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())
    closed = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    monkeypatch.setitem(app.extensions, "crm_redis", closed)
    result = run(app, "check")
    closed.close()
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("FAIL") and "smtp" in line for line in lines), result.output
    assert any(line.startswith("FAIL") and "redis" in line for line in lines), result.output
    assert any(line.startswith("OK") and "database" in line for line in lines), result.output
    assert "2 check(s) failed" in result.output
