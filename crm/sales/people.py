"""Who is a consultant: the one definition used by allocation, pool assignment and the dashboard."""
from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import Permission, User, role_permissions, user_roles
from crm.extensions import db

HOLD_LEADS = "sales.mine"  # a role that may hold leads ("my customers")
SEES_ALL = "sales.lead.view_all"  # directors, the CEO, admins: they oversee, they are not consultants


def _holders_of(code: str):
    return (
        sa.select(user_roles.c.user_id)
        .join(role_permissions, role_permissions.c.role_id == user_roles.c.role_id)
        .join(Permission, Permission.id == role_permissions.c.permission_id)
        .where(Permission.code == code)
    )


def consultant_ids_query(*, active_only: bool = True) -> sa.Select:
    """SELECT of the ids of consultants: staff who may hold leads and do not oversee every lead."""
    stmt = sa.select(User.id).where(
        User.id.in_(_holders_of(HOLD_LEADS)), User.id.not_in(_holders_of(SEES_ALL)), User.kind == User.KIND_STAFF,
    )
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    return stmt


def consultants(*, active_only: bool = True) -> list[User]:
    """Consultants by name (one query)."""
    return list(db.session.scalars(
        sa.select(User).where(User.id.in_(consultant_ids_query(active_only=active_only))).order_by(User.name, User.id)
    ))


def consultant_ids(*, active_only: bool = True) -> set[int]:
    """Consultants' ids (one query)."""
    return set(db.session.scalars(consultant_ids_query(active_only=active_only)))
