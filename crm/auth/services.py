"""Account and RBAC rules. Services flush, never commit; the caller commits."""
from __future__ import annotations

import secrets
import string
from collections.abc import Iterable

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from crm.auth import catalog
from crm.auth.models import Department, Permission, Role, User
from crm.core import audit
from crm.core.clock import utcnow
from crm.core.errors import Conflict, DomainError, NotFound
from crm.extensions import db, redis

MIN_PASSWORD_LENGTH = 8

SEED_DEPARTMENTS = [
    (1000, "市场部"),
    (1001, "销售"),
    (1002, "班主任"),
    (1003, "Python教学部"),
    (1004, "Go教学部"),
    (1005, "课程顾问"),
    (1006, "销售部"),
]


class LoginLocked(DomainError):
    """Too many failed sign-ins; try again later."""

    status_code = 429


# -- RBAC catalogue ------------------------------------------------------------
def sync_rbac() -> dict[str, int]:
    """Write new permission codes and default roles; grant new codes to default roles."""
    existing = {p.code: p for p in db.session.scalars(sa.select(Permission))}
    new_codes = set()
    for code, label in catalog.PERMISSIONS.items():
        perm = existing.get(code)
        if perm is None:
            perm = Permission(code=code, area=catalog.area_of(code), label=label)
            db.session.add(perm)
            existing[code] = perm
            new_codes.add(code)
        else:
            perm.label = label
    roles = {r.name: r for r in db.session.scalars(sa.select(Role))}
    created_roles = 0
    for name, (title, description, _codes) in catalog.DEFAULT_ROLES.items():
        role = roles.get(name)
        wanted = catalog.codes_for_role(name)
        if role is None:
            role = Role(name=name, title=title, description=description)
            db.session.add(role)
            role.permissions = [existing[c] for c in sorted(wanted)]
            created_roles += 1
        else:
            held = {p.code for p in role.permissions}
            grant = (wanted & new_codes) - held
            if name == "admin":
                grant = wanted - held  # the administrator always holds every code
            role.permissions.extend(existing[c] for c in sorted(grant))
    db.session.flush()
    return {"permissions_added": len(new_codes), "roles_added": created_roles}


def seed_departments() -> int:
    """Create the seed departments (P-2) that do not exist yet."""
    have = set(db.session.scalars(sa.select(Department.code)))
    added = 0
    for code, title in SEED_DEPARTMENTS:
        if code not in have:
            db.session.add(Department(code=code, title=title))
            added += 1
    db.session.flush()
    return added


# -- passwords -----------------------------------------------------------------
def validate_password(password: str) -> None:
    """Refuse passwords that are too short or too simple."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(_("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), field="password")
    if len(password) > 128:
        raise DomainError(_("The password may have at most 128 characters."), field="password")
    if password.isdigit() or password.isalpha():
        raise DomainError(_("The password must mix letters with digits or symbols."), field="password")


def random_password(length: int = 12) -> str:
    """A random initial password with letters and digits."""
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


# -- sign-in throttling ----------------------------------------------------------
def _failure_keys(username: str, ip: str) -> tuple[str, str]:
    return (
        redis.key("login", "fail", "user", username.strip().lower()),
        redis.key("login", "fail", "ip", ip or "unknown"),
    )


def _limits() -> tuple[int, int, int]:
    cfg = current_app.config
    max_user = cfg["CRM_LOGIN_MAX_FAILURES"]
    return max_user, cfg.get("CRM_LOGIN_MAX_FAILURES_IP", max_user * 4), cfg["CRM_LOGIN_LOCK_MINUTES"] * 60


def lock_remaining_seconds(username: str, ip: str) -> int:
    """Seconds until this account or address may try again (0 when not locked)."""
    user_key, ip_key = _failure_keys(username, ip)
    max_user, max_ip, _window = _limits()
    pipe = redis.client.pipeline()
    pipe.get(user_key).ttl(user_key).get(ip_key).ttl(ip_key)
    user_count, user_ttl, ip_count, ip_ttl = pipe.execute()
    remaining = 0
    if user_count and int(user_count) >= max_user:
        remaining = max(remaining, user_ttl or 0)
    if ip_count and int(ip_count) >= max_ip:
        remaining = max(remaining, ip_ttl or 0)
    return max(0, remaining)


def register_failure(username: str, ip: str) -> None:
    """Count a failed sign-in for the account and the address."""
    _max_user, _max_ip, window = _limits()
    pipe = redis.client.pipeline()
    for key in _failure_keys(username, ip):
        pipe.incr(key).expire(key, window)
    pipe.execute()


def clear_failures(username: str) -> None:
    """Forget an account's failed sign-ins after a success."""
    redis.client.delete(_failure_keys(username, "")[0])


def authenticate(username: str, password: str, ip: str) -> User:
    """Check credentials with throttling; return the user or raise DomainError."""
    username = (username or "").strip()
    remaining = lock_remaining_seconds(username, ip)
    if remaining:
        minutes = max(1, -(-remaining // 60))
        raise LoginLocked(_("Too many failed sign-ins. Try again in %(m)d minutes.", m=minutes))
    user = db.session.scalar(sa.select(User).where(User.username == username)) if username else None
    if user is None or not user.check_password(password or ""):
        register_failure(username, ip)
        raise DomainError(_("Wrong user name or password."))
    if not user.active:
        raise DomainError(_("This account has been deactivated. Ask an administrator."))
    clear_failures(username)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


# -- account management ------------------------------------------------------------
def change_own_password(user: User, current: str, new: str) -> None:
    """Change a user's own password after checking the current one."""
    if not user.check_password(current or ""):
        raise DomainError(_("The current password is wrong."), field="current_password")
    if current == new:
        raise DomainError(_("The new password must differ from the current one."), field="password")
    validate_password(new)
    user.set_password(new)
    user.must_change_password = False
    db.session.flush()


def get_user(user_id: int) -> User:
    """The user with this id or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


def create_user(
    actor_id: int | None,
    *,
    username: str,
    name: str,
    password: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    department_id: int | None = None,
    kind: str = User.KIND_STAFF,
    role_names: Iterable[str] = (),
    must_change_password: bool = True,
) -> tuple[User, str]:
    """Create an account; returns the user and the initial password."""
    username = (username or "").strip()
    if not username:
        raise DomainError(_("A user name is required."), field="username")
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())):
        raise Conflict(_("The user name %(u)s is already taken.", u=username), field="username")
    initial = password or random_password()
    validate_password(initial)
    user = User(
        username=username,
        name=(name or username).strip(),
        email=(email or None),
        phone=(phone or None),
        department_id=department_id,
        kind=kind,
        active=True,
        must_change_password=must_change_password,
    )
    user.set_password(initial)
    if role_names:
        names = list(role_names)
        user.roles = list(db.session.scalars(sa.select(Role).where(Role.name.in_(names))))
        if len(user.roles) != len(set(names)):
            raise DomainError(_("Unknown role."), field="roles")
    db.session.add(user)
    db.session.flush()
    audit.record(actor_id, "user.create", "user", user.id, username=username, roles=sorted(role_names))
    return user, initial


def reset_password(actor_id: int, user_id: int) -> str:
    """Give a user a new random password that must be changed at next sign-in."""
    user = get_user(user_id)
    password = random_password()
    user.set_password(password)
    user.must_change_password = True
    clear_failures(user.username)
    audit.record(actor_id, "user.reset_password", "user", user.id)
    db.session.flush()
    return password


def set_active(actor_id: int, user_id: int, active: bool) -> User:
    """Activate or deactivate an account; its history stays."""
    user = get_user(user_id)
    if actor_id == user_id and not active:
        raise DomainError(_("You cannot deactivate your own account."))
    user.active = active
    audit.record(actor_id, "user.activate" if active else "user.deactivate", "user", user.id)
    db.session.flush()
    return user


def set_user_roles(actor_id: int, user_id: int, role_ids: Iterable[int]) -> User:
    """Replace a user's roles (audited)."""
    user = get_user(user_id)
    ids = sorted(set(role_ids))
    roles = list(db.session.scalars(sa.select(Role).where(Role.id.in_(ids)))) if ids else []
    if len(roles) != len(ids):
        raise DomainError(_("Unknown role."), field="roles")
    before = sorted(r.name for r in user.roles)
    if actor_id == user_id and "admin" in before and "admin" not in {r.name for r in roles}:
        raise DomainError(_("You cannot remove the administrator role from yourself."), field="roles")
    user.roles = roles
    audit.record(actor_id, "user.roles", "user", user.id, before=before, after=sorted(r.name for r in roles))
    db.session.flush()
    return user


def set_role_permissions(actor_id: int, role_id: int, codes: Iterable[str]) -> Role:
    """Replace a role's permissions (audited)."""
    role = db.session.get(Role, role_id)
    if role is None:
        raise NotFound(_("No such role."))
    wanted = sorted(set(codes))
    perms = list(db.session.scalars(sa.select(Permission).where(Permission.code.in_(wanted)))) if wanted else []
    if len(perms) != len(wanted):
        raise DomainError(_("Unknown permission."), field="permissions")
    before = sorted(p.code for p in role.permissions)
    role.permissions = perms
    audit.record(actor_id, "role.permissions", "role", role.id, before=before, after=wanted)
    db.session.flush()
    return role
