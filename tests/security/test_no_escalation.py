"""No privilege escalation (issue 12, item 5): nobody acts on, grants or edits permissions they lack."""
from __future__ import annotations

import uuid

import pytest

from crm.auth import catalog, services
from crm.auth.models import Role, User
from crm.core.errors import Forbidden
from crm.extensions import db
from tests.factories import PASSWORD, login, make_user

MANAGER_CODES = ("auth.user.view", "auth.user.edit", "auth.role.view", "auth.role.edit")


def role_with(*codes: str) -> Role:
    role = services.create_role(None, name="r" + uuid.uuid4().hex[:8], title="T " + uuid.uuid4().hex[:4])
    services.set_role_permissions(None, role.id, codes)
    db.session.commit()
    return role


def user_with(role: Role) -> User:
    user = make_user()
    user.roles = [role]
    db.session.commit()
    return user


@pytest.fixture
def manager():
    return user_with(role_with(*MANAGER_CODES))


def role_id(name: str) -> int:
    return db.session.scalar(db.select(Role.id).filter_by(name=name))


ACTIONS = {
    "create user with admin role": lambda m, t: services.create_user(
        m.id, username="u" + uuid.uuid4().hex[:8], name="x", role_ids=[role_id("admin")]),
    "edit profile": lambda m, t: services.update_profile(m.id, t.id, name="Renamed"),
    "reset password": lambda m, t: services.reset_password(m.id, t.id),
    "deactivate": lambda m, t: services.set_active(m.id, t.id, False),
    "change roles of a stronger user": lambda m, t: services.set_user_roles(m.id, t.id, []),
    "grant a stronger role": lambda m, t: services.set_user_roles(m.id, make_user().id, [role_id("consultant")]),
    "give a role permissions one lacks": lambda m, t: services.set_role_permissions(
        m.id, role_with().id, ["sales.payment.create"]),
    "edit a stronger role": lambda m, t: services.set_role_permissions(m.id, role_id("ceo"), []),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_account_and_role_action_refuses_escalation(manager, action):
    target = make_user("admin")
    with pytest.raises(Forbidden):
        ACTIONS[action](manager, target)
    db.session.rollback()


def test_within_ones_own_permissions_everything_still_works(manager):
    peer_role = role_with("auth.user.view")
    peer = user_with(peer_role)
    services.update_profile(manager.id, peer.id, name="Renamed")
    services.reset_password(manager.id, peer.id)
    services.set_user_roles(manager.id, peer.id, [peer_role.id])
    services.set_role_permissions(manager.id, peer_role.id, ["auth.user.view", "auth.user.edit"])
    services.set_active(manager.id, peer.id, False)
    admin = make_user("admin")
    services.set_role_permissions(admin.id, role_id("ceo"), sorted(catalog.codes_for_role("ceo")))


def test_user_editor_cannot_reset_an_administrators_password(new_client):
    editor = user_with(role_with("auth.user.view", "auth.user.edit"))
    admin = make_user("admin")
    client = new_client()
    login(client, editor)
    response = client.post(f"/auth/users/{admin.id}/reset-password")
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, admin.id).check_password(PASSWORD)
