"""Every endpoint declares who may call it (P-3)."""
import pytest

from crm.auth import catalog
from crm.core.access import AUTHENTICATED, PUBLIC, access_for
from tests.factories import login, make_user


def test_every_endpoint_declares_access(app):
    missing = [rule.endpoint for rule in app.url_map.iter_rules() if access_for(app, rule.endpoint) is None]
    assert missing == []


def test_public_endpoints_are_only_the_expected_ones(app):
    public = sorted({rule.endpoint for rule in app.url_map.iter_rules() if access_for(app, rule.endpoint) == PUBLIC})
    # api.create_lead authenticates with its bearer token inside the view (crm/api/views.py);
    # rooms.feed with the secret token in its URL (crm/rooms/feed.py).
    assert public == ["api.create_lead", "auth.login", "core.healthz", "core.set_language", "rooms.feed", "static"]


def test_declared_permission_codes_exist_in_the_catalogue(app):
    unknown = {
        (rule.endpoint, code)
        for rule in app.url_map.iter_rules()
        for code in (access_for(app, rule.endpoint) or ())
        if isinstance(access_for(app, rule.endpoint), tuple) and code not in catalog.PERMISSIONS
    }
    assert unknown == set()


@pytest.mark.parametrize("endpoint, access", [
    ("auth.login", PUBLIC),
    ("auth.logout", AUTHENTICATED),
    ("auth.change_password", AUTHENTICATED),
    ("auth.user_create", ("auth.user.edit",)),
    ("auth.user_edit", ("auth.user.edit",)),
    ("auth.user_reset_password", ("auth.user.edit",)),
    ("auth.user_deactivate", ("auth.user.edit",)),
    ("auth.user_activate", ("auth.user.edit",)),
    ("auth.user_roles", ("auth.role.edit",)),
    ("auth.roles", ("auth.role.view",)),
    ("auth.role_detail", ("auth.role.view",)),
    ("auth.role_create", ("auth.role.edit",)),
    ("auth.role_permissions", ("auth.role.edit",)),
    ("users.index_view", ("auth.user.view",)),
    ("users.export", ("auth.user.view",)),
    ("audit.index_view", ("auth.audit.view",)),
    ("audit.export", ("auth.audit.view",)),
])
def test_account_pages_declare_their_permission(app, endpoint, access):
    assert access_for(app, endpoint) == access


@pytest.mark.committing
def test_undeclared_endpoint_is_refused(build_app, clean_database):
    probe_app = build_app()
    probe_app.add_url_rule("/undeclared-probe", "undeclared_probe", lambda: "open")
    with probe_app.app_context():
        username = make_user("admin").username
    client = probe_app.test_client()
    login(client, username)
    assert client.get("/undeclared-probe").status_code == 403
    assert client.get("/").status_code == 200


def test_anonymous_is_sent_to_login(client):
    response = client.get("/org/classes/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_permission_codes_are_dotted_words_that_survive_the_sessions_aggregate():
    """crm.auth.sessions joins a user's codes with CODE_SEPARATOR and splits them again."""
    import re

    from crm.auth.sessions import CODE_SEPARATOR

    bad = [code for code in catalog.PERMISSIONS if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", code)
           or CODE_SEPARATOR in code]
    assert bad == []
