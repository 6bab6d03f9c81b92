"""Roles, permissions, the menu, the 403 page, the audit log and CSRF (P-3, P-6)."""
import datetime as dt
import io
import re
import uuid

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.auth import catalog, services
from crm.auth.models import Role, User
from crm.core.audit import AuditLog
from crm.extensions import db
from tests.factories import login, make_user

ADMIN_MENU = {"users.index_view", "auth.roles", "audit.index_view"}


def custom_role(*codes: str) -> Role:
    """A committed role holding exactly `codes`."""
    role = services.create_role(None, name="r" + uuid.uuid4().hex[:8], title="Custom " + uuid.uuid4().hex[:4])
    services.set_role_permissions(None, role.id, codes)
    db.session.commit()
    return role


def table_of(html: str) -> str:
    """The list table only (filter menus elsewhere on the page name every action)."""
    return html.split("model-list", 1)[1].split("</table>", 1)[0]


def menu_endpoints(html: str) -> set[str]:
    return set(re.findall(r'data-endpoint="([^"]+)"', html))


@pytest.fixture
def admin_client(new_client):
    admin = make_user("admin")
    client = new_client()
    login(client, admin)
    client.admin = admin
    return client


@pytest.mark.parametrize("roles, expected", [
    (("admin",), ADMIN_MENU),
    (("ceo",), {"audit.index_view"}),
    (("consultant",), set()),
    (("student",), set()),
    (("tutor", "ceo"), {"audit.index_view"}),
])
def test_menu_shows_only_permitted_admin_entries(new_client, roles, expected):
    client = new_client()
    login(client, make_user(*roles))
    html = client.get("/").get_data(as_text=True)
    assert menu_endpoints(html) & ADMIN_MENU == expected
    assert ('data-area="auth"' in html) == bool(expected)


def test_menu_follows_a_custom_role(new_client):
    role = custom_role("auth.role.view")
    client = new_client()
    login(client, make_user(role.name))
    assert menu_endpoints(client.get("/").get_data(as_text=True)) & ADMIN_MENU == {"auth.roles"}


@pytest.mark.parametrize("roles", [("consultant",), ("student",), ("ceo",)])
def test_wrong_role_gets_the_403_page(new_client, roles):
    client = new_client()
    login(client, make_user(*roles))
    for url in ("/admin/users/", "/auth/roles", "/auth/users/new", "/admin/users/export/xlsx/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert 'data-status="403"' in response.get_data(as_text=True)


def test_anonymous_is_sent_to_sign_in(new_client):
    client = new_client()
    for url in ("/admin/users/", "/auth/roles", "/admin/audit/", "/auth/users/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_role_change_takes_effect_on_the_next_request(admin_client, new_client):
    role = custom_role("org.view")
    user = make_user(role.name)
    client = new_client()
    login(client, user)
    assert client.get("/admin/users/").status_code == 403
    # Grant through the roles page, while the user stays signed in.
    codes = ["org.view", "auth.user.view"]
    assert admin_client.post(f"/auth/roles/{role.id}/permissions", data={"permissions": codes}).status_code == 302
    assert client.get("/admin/users/").status_code == 200
    assert "users.index_view" in menu_endpoints(client.get("/").get_data(as_text=True))
    # Revoke: refused again without signing in anew.
    admin_client.post(f"/auth/roles/{role.id}/permissions", data={"permissions": ["org.view"]})
    assert client.get("/admin/users/").status_code == 403
    assert "users.index_view" not in menu_endpoints(client.get("/").get_data(as_text=True))  # the menu too
    # Taking the role away from the user works the same way.
    admin_client.post(f"/auth/roles/{role.id}/permissions", data={"permissions": codes})
    assert client.get("/admin/users/").status_code == 200
    admin_client.post(f"/auth/users/{user.id}/roles", data={"roles": []})
    assert client.get("/admin/users/").status_code == 403


def test_roles_page_lists_user_counts(admin_client):
    role = custom_role("org.view")
    for _ in range(3):
        make_user(role.name)
    html = admin_client.get("/auth/roles").get_data(as_text=True)
    row = html[html.index(f'data-role="{role.name}"'):]
    row = row[:row.index("</tr>")]
    assert re.search(r'data-testid="user-count">\s*3\s*<', row)
    for name in catalog.DEFAULT_ROLES:
        assert f'data-role="{name}"' in html


def test_permission_matrix_is_grouped_by_area_and_saved_with_audit(admin_client):
    role = custom_role("org.view", "rooms.book")
    html = admin_client.get(f"/auth/roles/{role.id}").get_data(as_text=True)
    for area in ("auth", "org", "sales", "teaching", "rooms", "surveys"):
        assert f'data-area="{area}"' in html
    assert re.search(r'value="org.view" id="perm-org.view"\s+checked', html)
    assert not re.search(r'value="sales.pool.grab" id="perm-sales.pool.grab"\s+checked', html)
    response = admin_client.post(f"/auth/roles/{role.id}/permissions",
                                 data={"permissions": ["sales.pool.grab", "org.view"]})
    assert response.status_code == 302
    db.session.expire_all()
    assert [p.code for p in db.session.get(Role, role.id).permissions] == ["org.view", "sales.pool.grab"]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "role.permissions",
                                                        AuditLog.object_type == "role",
                                                        AuditLog.object_id == str(role.id),
                                                        AuditLog.actor_id == admin_client.admin.id))
    assert entry.detail_dict["added"] == ["sales.pool.grab"]
    assert entry.detail_dict["removed"] == ["rooms.book"]


def test_unknown_permission_changes_nothing(admin_client):
    role = custom_role("org.view")
    response = admin_client.post(f"/auth/roles/{role.id}/permissions",
                                 data={"permissions": ["org.view", "auth.user.edit", "made.up.code"]})
    assert response.status_code == 400
    assert "not a valid choice" in response.get_data(as_text=True)
    db.session.expire_all()
    assert [p.code for p in db.session.get(Role, role.id).permissions] == ["org.view"]


def test_admin_role_keeps_every_permission(admin_client):
    admin_role = db.session.scalar(sa.select(Role).where(Role.name == "admin"))
    response = admin_client.post(f"/auth/roles/{admin_role.id}/permissions", data={"permissions": ["org.view"]})
    assert response.status_code == 400
    assert "always holds every permission" in response.get_data(as_text=True)
    db.session.expire_all()
    assert {p.code for p in db.session.get(Role, admin_role.id).permissions} == set(catalog.PERMISSIONS)


def test_role_viewer_sees_matrix_read_only(new_client):
    viewer_role = custom_role("auth.role.view")
    target = custom_role("org.view")
    client = new_client()
    login(client, make_user(viewer_role.name))
    html = client.get(f"/auth/roles/{target.id}").get_data(as_text=True)
    assert 'id="save-permissions"' not in html and "disabled" in html
    assert 'id="new-role"' not in client.get("/auth/roles").get_data(as_text=True)
    assert client.post(f"/auth/roles/{target.id}/permissions", data={"permissions": ["auth.user.edit"]}
                       ).status_code == 403
    assert client.post("/auth/roles/new", data={"name": "sneaky", "title": "Sneaky"}).status_code == 403
    db.session.expire_all()
    assert [p.code for p in db.session.get(Role, target.id).permissions] == ["org.view"]


def test_create_custom_role(admin_client):
    name = "helper_" + uuid.uuid4().hex[:6]
    response = admin_client.post("/auth/roles/new", data={"name": name, "title": "助教", "description": ""})
    assert response.status_code == 302
    role = db.session.scalar(sa.select(Role).where(Role.name == name))
    assert response.headers["Location"] == f"/auth/roles/{role.id}"
    assert role.title == "助教" and role.permissions == []
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "role.create",
                                                          AuditLog.object_type == "role",
                                                          AuditLog.object_id == str(role.id)))


@pytest.mark.parametrize("data, message", [
    ({"name": "", "title": "T"}, "This field is required."),
    ({"name": "Bad Name", "title": "T"}, "Lower-case letters"),
    ({"name": "admin", "title": "T"}, "already exists"),
    ({"name": "x" * 500, "title": "T"}, "32"),
    ({"name": "okname", "title": ""}, "This field is required."),
    ({"name": "okname", "title": "<script>" * 20}, "64"),
])
def test_bad_role_input_is_refused(admin_client, data, message):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Role))
    response = admin_client.post("/auth/roles/new", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    assert "<script><script>" not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Role)) == before


def test_audit_log_filters_newest_first_and_export(admin_client, new_client):
    tag = uuid.uuid4().hex[:6]
    victim = make_user(name=f"审计{tag}")
    admin_client.post(f"/auth/users/{victim.id}/deactivate")
    admin_client.post(f"/auth/users/{victim.id}/activate")
    admin_client.post(f"/auth/users/{victim.id}/roles", data={"roles": [
        str(db.session.scalar(sa.select(Role.id).where(Role.name == "tutor")))]})
    # An old entry, to check the date-range filter.
    old = AuditLog(at=dt.datetime(2020, 1, 1, 4, 0, tzinfo=dt.timezone.utc), actor_id=None, action="user.update",
                   object_type="user", object_id=str(victim.id), detail='{"note": "old"}')
    db.session.add(old)
    db.session.commit()

    def table(query: str) -> str:
        return table_of(admin_client.get(f"/admin/audit/?flt0_5={victim.id}{query}").get_data(as_text=True))

    html = table("")
    positions = [html.index(a) for a in ("user.roles", "user.activate", "user.deactivate", "user.update")]
    assert positions == sorted(positions), "newest first"
    assert "after: tutor" in html  # readable details, not raw JSON
    assert admin_client.admin.username in html
    html = table("&flt1_0=user.activate")
    assert "user.activate" in html and "user.deactivate" not in html and "user.roles" not in html
    html = table(f"&flt1_3={admin_client.admin.username}")
    assert "user.roles" in html and "note: old" not in html
    html = table("&flt1_6=2019-12-31+00:00:00+to+2020-01-02+00:00:00")
    assert "note: old" in html and "user.roles" not in html
    assert "2020-01-01 12:00:00" in html  # shown in the school's time zone (UTC+8)
    html = table("&flt1_7=2020-01-01+12:30:00")  # after 12:30 local = 04:30 UTC: the old row is out
    assert "note: old" not in html and "user.roles" in html

    response = admin_client.get(f"/admin/audit/export/xlsx/?flt0_5={victim.id}&flt1_4=user")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    actions = [row[3] for row in rows[1:]]
    assert actions == ["user.roles", "user.activate", "user.deactivate", "user.update"]


def test_audit_log_is_read_only_and_needs_permission(admin_client, new_client):
    entry = AuditLog(at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), action="x.y", object_type="t", detail="{}")
    db.session.add(entry)
    db.session.commit()
    assert admin_client.post("/admin/audit/delete/", data={"id": str(entry.id)}).status_code in (302, 403)
    assert db.session.get(AuditLog, entry.id) is not None
    client = new_client()
    login(client, make_user("consultant"))
    assert client.get("/admin/audit/").status_code == 403


@pytest.mark.committing
def test_posts_without_csrf_token_are_refused(build_app, clean_database):
    from tests.auth.conftest import FreshUserClient, fresh_ip
    from tests.factories import PASSWORD

    csrf_app = build_app(WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        admin = make_user("admin")
        victim = make_user()
        client = FreshUserClient(csrf_app, csrf_app.response_class, use_cookies=True)
        client.environ_base["REMOTE_ADDR"] = fresh_ip()
        # Sign-in without the token: refused, and nobody is signed in.
        response = client.post("/auth/login", data={"username": admin.username, "password": PASSWORD})
        assert response.status_code == 400
        assert client.get("/").status_code == 302
        # With the token from the form it works.
        page = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/auth/login", data={"username": admin.username, "password": PASSWORD,
                                                    "csrf_token": token})
        assert response.status_code == 302
        # An admin POST without the token changes nothing.
        assert client.post(f"/auth/users/{victim.id}/deactivate").status_code == 400
        assert client.post(f"/auth/users/{victim.id}/reset-password").status_code == 400
        assert client.post("/auth/users/new", data={"username": "csrfless", "name": "x", "kind": "staff",
                                                    "department_id": "0"}).status_code == 400
        db.session.expire_all()
        assert db.session.get(User, victim.id).active
        assert db.session.scalar(sa.select(User.id).where(User.username == "csrfless")) is None
        # The list page's buttons carry a token that the server accepts.
        html = client.get(f"/admin/users/?search={victim.username}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        response = client.post(f"/auth/users/{victim.id}/deactivate", data={"csrf_token": token})
        assert response.status_code == 302
        db.session.expire_all()
        assert not db.session.get(User, victim.id).active
        db.session.remove()


def test_clearing_every_permission_of_a_role(admin_client):
    role = custom_role("org.view", "rooms.book")
    assert admin_client.post(f"/auth/roles/{role.id}/permissions", data={}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Role, role.id).permissions == []
