"""User administration: create, edit, roles, reset, deactivate, list, search, filters, export (P-1, P-2)."""
import io
import uuid

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.auth.models import Department, Role, User
from crm.core.audit import AuditLog
from crm.extensions import db
from tests.auth.conftest import one_time_password
from tests.factories import login, make_user

# Filter arguments of the user list: flt<n>_<index of the filter in UserView.column_filters>.
DEPARTMENT, ROLE, ACTIVE, KIND = "flt0_0", "flt1_1", "flt2_2", "flt3_3"


@pytest.fixture
def admin_client(new_client):
    """A signed-in administrator and their client."""
    admin = make_user("admin")
    client = new_client()
    login(client, admin)
    client.admin = admin
    return client


def role_id(name: str) -> int:
    return db.session.scalar(sa.select(Role.id).where(Role.name == name))


def department_id(code: int) -> int:
    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def create_form(**overrides):
    data = {
        "username": "u" + uuid.uuid4().hex[:8], "name": "张三", "email": "zhang@example.com",
        "phone": "+86 138-0000-0000", "department_id": str(department_id(1005)), "wechat_openid": "oABC123",
        "kind": "staff", "roles": [str(role_id("consultant"))],
    }
    data.update(overrides)
    return data


def test_create_user_shows_password_once_and_audits(admin_client):
    data = create_form()
    response = admin_client.post("/auth/users/new", data=data)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = one_time_password(response.get_data(as_text=True))
    assert len(password) >= 12
    user = db.session.scalar(sa.select(User).where(User.username == data["username"]))
    assert (user.name, user.email, user.phone, user.wechat_openid, user.kind) == (
        "张三", "zhang@example.com", "+86 138-0000-0000", "oABC123", "staff")
    assert user.department.code == 1005
    assert [r.name for r in user.roles] == ["consultant"]
    assert user.must_change_password and user.check_password(password)
    assert password not in user.password_hash
    # Shown once: the account's pages never show it (nor the hash) again.
    for url in (f"/auth/users/{user.id}/edit", "/admin/users/", "/admin/audit/"):
        page = admin_client.get(url).get_data(as_text=True)
        assert password not in page and "scrypt:" not in page
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.create",
                                                        AuditLog.object_type == "user",
                                                        AuditLog.object_id == str(user.id)))
    assert entry.actor_id == admin_client.admin.id
    assert entry.detail_dict["roles"] == ["consultant"]


def test_create_form_offers_roles_only_to_role_editors(new_client):
    # A user editor without auth.role.edit cannot hand out roles (no escalation to admin).
    from crm.auth import services

    role = services.create_role(None, name="useradmin" + uuid.uuid4().hex[:4], title="User admin")
    services.set_role_permissions(None, role.id, ["auth.user.view", "auth.user.edit"])
    db.session.commit()
    editor = make_user(role.name)
    client = new_client()
    login(client, editor)
    page = client.get("/auth/users/new").get_data(as_text=True)
    assert 'name="roles"' not in page
    data = create_form(roles=[str(role_id("admin"))])
    assert client.post("/auth/users/new", data=data).status_code == 200
    created = db.session.scalar(sa.select(User).where(User.username == data["username"]))
    assert created.roles == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"username": ""}, "username", "This field is required."),
    ({"username": "   "}, "username", "This field is required."),
    ({"username": "x" * 65}, "username", "64"),
    ({"username": "two words"}, "username", "no spaces"),
    ({"name": "n" * 5000}, "name", "64"),
    ({"email": "not-an-email"}, "email", "valid e-mail"),
    ({"phone": "call me"}, "phone", "digits"),
    ({"department_id": "abc"}, "department_id", "Invalid Choice"),
    ({"department_id": "999999"}, "department_id", "Not a valid choice"),
    ({"kind": "robot"}, "kind", "Not a valid choice"),
    ({"roles": ["999999"]}, "roles", "not a valid choice"),
    ({"roles": ["abc"]}, "roles", "could not be coerced"),
])
def test_bad_input_is_refused_clearly_and_nothing_is_written(admin_client, overrides, field, message):
    before = user_count()
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    response = admin_client.post("/auth/users/new", data=create_form(**overrides))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    errors = [part for part in html.split('data-field="')[1:] if part.startswith(field + '"')]
    assert errors and message in errors[0].split("</div>")[0], html[:200]
    assert "nothing was saved" in html
    assert 'data-testid="one-time-password"' not in html
    assert user_count() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == audit_before


def test_duplicate_username_is_refused_case_insensitively(admin_client):
    existing = make_user(username="Wang" + uuid.uuid4().hex[:6])
    before = user_count()
    for candidate in (existing.username, existing.username.upper(), existing.username.lower()):
        response = admin_client.post("/auth/users/new", data=create_form(username=candidate))
        assert "is already taken" in response.get_data(as_text=True)
    assert user_count() == before


def test_unicode_username_and_name_are_accepted(admin_client):
    data = create_form(username="李雷" + uuid.uuid4().hex[:4], name="李雷 🎓")
    response = admin_client.post("/auth/users/new", data=data)
    assert 'data-testid="one-time-password"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.name).where(User.username == data["username"])) == "李雷 🎓"


def test_script_in_name_is_escaped_on_list_and_edit_pages(admin_client):
    evil = '<script>alert("x")</script><b>bold</b>'
    user = make_user(name=evil, email="evil@example.com")
    for url in ("/admin/users/?search=evil@example.com", f"/auth/users/{user.id}/edit", "/auth/roles"):
        html = admin_client.get(url).get_data(as_text=True)
        assert '<script>alert("x")' not in html and "<b>bold</b>" not in html, url
    assert "&lt;script&gt;alert(" in admin_client.get("/admin/users/?search=evil@example.com").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in admin_client.get(f"/auth/users/{user.id}/edit").get_data(as_text=True)


def test_edit_profile_keeps_list_filters_and_audits(admin_client):
    user = make_user(name="Before", email="before@example.com")
    back = "/admin/users/?search=before%40example.com&page_size=50"
    page = admin_client.get(f"/auth/users/{user.id}/edit?next={back.replace('&', '%26').replace('?', '%3F')}")
    assert page.status_code == 200
    response = admin_client.post(f"/auth/users/{user.id}/edit", data={
        "name": "After", "email": "after@example.com", "phone": "", "department_id": str(department_id(1002)),
        "wechat_openid": "", "kind": "staff", "next": back,
    })
    assert response.status_code == 302
    assert response.headers["Location"] == back
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.name, user.email, user.department.code) == ("After", "after@example.com", 1002)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.update",
                                                        AuditLog.object_type == "user",
                                                        AuditLog.object_id == str(user.id)))
    assert entry.detail_dict["changed"]["name"] == ["Before", "After"]


def test_edit_refuses_bad_input_and_offsite_next(admin_client):
    user = make_user(name="Keep")
    response = admin_client.post(f"/auth/users/{user.id}/edit", data={
        "name": "", "email": "", "phone": "", "department_id": "0", "wechat_openid": "", "kind": "staff",
    })
    assert response.status_code == 200
    assert "This field is required." in response.get_data(as_text=True)
    assert db.session.get(User, user.id).name == "Keep"
    response = admin_client.post(f"/auth/users/{user.id}/edit", data={
        "name": "Fine", "department_id": "0", "kind": "staff", "next": "//evil.example/",
    })
    assert response.headers["Location"] == "/admin/users/"


@pytest.mark.parametrize("url", ["/auth/users/abc/edit", "/auth/users/999999/edit", "/auth/users/-1/edit",
                                 "/auth/roles/abc", "/auth/roles/999999"])
def test_unknown_or_non_numeric_ids_answer_404(admin_client, url):
    assert admin_client.get(url).status_code == 404
    assert admin_client.post(url.replace("/edit", "/reset-password")).status_code in (404, 405)


def test_set_user_roles_is_audited_and_refuses_unknown_roles(admin_client):
    user = make_user("consultant")
    response = admin_client.post(f"/auth/users/{user.id}/roles", data={"roles": [str(role_id("tutor")),
                                                                                 str(role_id("teacher"))]})
    assert response.status_code == 302
    db.session.expire_all()
    assert sorted(r.name for r in db.session.get(User, user.id).roles) == ["teacher", "tutor"]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.roles",
                                                        AuditLog.object_type == "user",
                                                        AuditLog.object_id == str(user.id)))
    assert entry.detail_dict == {"before": ["consultant"], "after": ["teacher", "tutor"]}
    for bad in (["999999"], ["x"]):
        response = admin_client.post(f"/auth/users/{user.id}/roles", data={"roles": bad}, follow_redirects=True)
        assert "alert-danger" in response.get_data(as_text=True)
        db.session.expire_all()
        assert sorted(r.name for r in db.session.get(User, user.id).roles) == ["teacher", "tutor"]


def test_admin_cannot_remove_own_admin_role_or_deactivate_self(admin_client):
    me = admin_client.admin
    response = admin_client.post(f"/auth/users/{me.id}/roles", data={"roles": [str(role_id("tutor"))]},
                                 follow_redirects=True)
    assert "cannot remove the administrator role from yourself" in response.get_data(as_text=True)
    response = admin_client.post(f"/auth/users/{me.id}/deactivate", follow_redirects=True)
    assert "cannot deactivate your own account" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, me.id).active
    assert db.session.get(User, me.id).has_role("admin")


def test_reset_password_shows_new_password_once_and_forces_change(admin_client, new_client):
    user = make_user("tutor")
    old_hash = user.password_hash
    response = admin_client.post(f"/auth/users/{user.id}/reset-password", data={"next": "/admin/users/"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = one_time_password(response.get_data(as_text=True))
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.password_hash != old_hash and user.must_change_password
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "user.reset_password",
                                                          AuditLog.object_type == "user",
                                                          AuditLog.object_id == str(user.id)))
    client = new_client()
    assert login(client, user).status_code == 200  # the old password no longer works
    response = login(client, user, password=password)
    assert response.headers["Location"].endswith("/auth/password")
    assert client.get("/org/classes/").headers["Location"].endswith("/auth/password")
    client.post("/auth/password", data={"current_password": password, "password": "Mine-own-99",
                                        "confirm": "Mine-own-99"})
    assert client.get("/org/classes/").status_code == 200


def test_reset_and_deactivate_need_post(admin_client):
    user = make_user()
    assert admin_client.get(f"/auth/users/{user.id}/reset-password").status_code == 405
    assert admin_client.get(f"/auth/users/{user.id}/deactivate").status_code == 405
    assert db.session.get(User, user.id).active


def test_deactivate_and_activate(admin_client):
    user = make_user()
    response = admin_client.post(f"/auth/users/{user.id}/deactivate", data={"next": "/admin/users/?page=0"})
    assert response.headers["Location"] == "/admin/users/?page=0"
    db.session.expire_all()
    assert not db.session.get(User, user.id).active
    html = admin_client.get(f"/admin/users/?search={user.username}").get_data(as_text=True)
    assert 'data-action="activate"' in html and 'data-action="deactivate"' not in html
    admin_client.post(f"/auth/users/{user.id}/activate")
    db.session.expire_all()
    assert db.session.get(User, user.id).active
    actions = list(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.object_type == "user",
                                                                       AuditLog.object_id == str(user.id))
                                      .order_by(AuditLog.id)))
    assert actions == ["user.deactivate", "user.activate"]


def test_list_search_filters_and_sort(admin_client):
    tag = uuid.uuid4().hex[:6]
    alice = make_user("consultant", username=f"alice{tag}", name=f"Alice {tag}", email=f"alice{tag}@ex.com",
                      department_code=1005)
    bob = make_user("tutor", username=f"bob{tag}", name=f"Bob {tag}", email=f"bob{tag}@ex.com",
                    department_code=1002, active=False)
    carol = make_user("student", username=f"carol{tag}", name=f"Carol {tag}", kind=User.KIND_STUDENT)
    bob.phone = f"139{tag}"
    db.session.commit()

    def names(query: str) -> set[str]:
        html = admin_client.get(f"/admin/users/?search={tag}&{query}").get_data(as_text=True)
        return {u.username for u in (alice, bob, carol) if f">{u.username}<" in html.replace("\n", "")
                .replace(" ", "")}

    assert names("") == {alice.username, bob.username, carol.username}
    html = admin_client.get(f"/admin/users/?search=139{tag}").get_data(as_text=True)
    assert bob.username in html and alice.username not in html
    html = admin_client.get(f"/admin/users/?search=alice{tag}@ex").get_data(as_text=True)
    assert alice.username in html and bob.username not in html
    assert names(f"{DEPARTMENT}={department_id(1005)}") == {alice.username}
    assert names(f"{ROLE}={role_id('tutor')}") == {bob.username}
    assert names(f"{ACTIVE}=0") == {bob.username}
    assert names(f"{KIND}=student") == {carol.username}
    assert names(f"{ROLE}=not-a-number") == {alice.username, bob.username, carol.username}
    # Sort by name, descending (column 1 of column_list).
    html = admin_client.get(f"/admin/users/?search={tag}&sort=1&desc=1").get_data(as_text=True)
    assert html.index(carol.username) < html.index(bob.username) < html.index(alice.username)


def test_list_paginates(admin_client):
    tag = uuid.uuid4().hex[:6]
    # Rows with an unusable hash: 23 scrypt hashes would only slow the test down.
    db.session.add_all(User(username=f"page{tag}{n:02d}", name=f"Page {n}", password_hash="!") for n in range(23))
    db.session.commit()
    first = admin_client.get(f"/admin/users/?search=page{tag}&sort=0&page_size=20").get_data(as_text=True)
    second = admin_client.get(f"/admin/users/?search=page{tag}&sort=0&page_size=20&page=1").get_data(as_text=True)
    assert f"page{tag}00" in first and f"page{tag}22" not in first
    assert f"page{tag}22" in second and f"page{tag}00" not in second


def test_export_has_the_filtered_rows_and_no_password_data(admin_client):
    tag = uuid.uuid4().hex[:6]
    make_user("consultant", username=f"exa{tag}", name=f"导出甲{tag}", email=f"exa{tag}@ex.com", department_code=1005)
    make_user("tutor", username=f"exb{tag}", name=f"=HYPERLINK(\"x\"){tag}", department_code=1002)
    make_user("tutor", username=f"exc{tag}", name="inactive", active=False)
    response = admin_client.get(f"/admin/users/export/xlsx/?search=ex&{ACTIVE}=1&{ROLE}={role_id('consultant')}"
                                f"&search={tag}")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    rows = list(workbook.active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert not any("password" in str(h).lower() or "密码" in str(h) for h in header)
    usernames = [row[1] for row in body]
    assert usernames == [f"exa{tag}"]
    row = dict(zip(header, body[0]))
    assert row[next(h for h in header if "mail" in str(h).lower() or "邮" in str(h))] == f"exa{tag}@ex.com"
    # Everything, filtered only by the search: two active and one inactive user; no hash anywhere.
    response = admin_client.get(f"/admin/users/export/xlsx/?search={tag}")
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [c.value for r in sheet.iter_rows() for c in r]
    assert sum(1 for r in sheet.iter_rows(min_row=2)) == 3
    assert not any(isinstance(v, str) and v.startswith("scrypt:") for v in cells)
    # A name that looks like a formula stays text.
    formula_cells = [c for r in sheet.iter_rows(min_row=2) for c in r if isinstance(c.value, str)
                     and "HYPERLINK" in c.value]
    assert formula_cells and all(c.data_type != "f" for c in formula_cells)


def test_read_only_user_sees_no_change_buttons_and_cannot_change(new_client):
    from crm.auth import services

    role = services.create_role(None, name="viewer" + uuid.uuid4().hex[:4], title="Viewer")
    services.set_role_permissions(None, role.id, ["auth.user.view"])
    db.session.commit()
    viewer = make_user(role.name)
    target = make_user()
    client = new_client()
    login(client, viewer)
    html = client.get(f"/admin/users/?search={target.username}").get_data(as_text=True)
    assert target.username in html
    for marker in ('id="new-user"', 'data-action="edit"', 'data-action="reset"', 'data-action="deactivate"'):
        assert marker not in html
    assert "/admin/users/export/xlsx/" in html
    for url in (f"/auth/users/{target.id}/reset-password", f"/auth/users/{target.id}/deactivate",
                f"/auth/users/{target.id}/roles", f"/auth/users/{target.id}/edit", "/auth/users/new"):
        assert client.post(url, data={"name": "hacked", "kind": "staff", "department_id": "0"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(User, target.id).active and db.session.get(User, target.id).name != "hacked"
    # Flask-Admin's own create/edit/delete stay shut for everyone.
    assert client.get("/admin/users/new/").status_code in (302, 403)


def test_database_refuses_usernames_that_differ_only_in_case():
    """The rule lives in the database (a unique index on lower(username)), so racing creates cannot both win."""
    from crm.extensions import db as database

    name = "Case" + uuid.uuid4().hex[:6]
    make_user(username=name)
    clash = User(username=name.lower(), name="clash", kind=User.KIND_STAFF, active=True)
    clash.set_password("secret-pass-1")
    with pytest.raises(sa.exc.IntegrityError):
        with database.session.begin_nested():
            database.session.add(clash)
            database.session.flush()
