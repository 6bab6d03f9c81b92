"""Account and RBAC rules. Services flush, never commit; the caller commits."""
from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import gettext as _

from crm.auth import catalog
from crm.auth.models import Department, Permission, Role, User, role_permissions, user_roles
from crm.auth.sessions import revoke_sessions
from crm.auth.signin import clear_failures
from crm.core import audit
from crm.core.errors import Conflict, DomainError, Forbidden, NotFound
from crm.extensions import db

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
        raise DomainError(_("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
                          field="password")
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


# -- no escalation ---------------------------------------------------------------------
def held_codes(user_id: int) -> set[str]:
    """The permission codes a user holds through their roles (read fresh, not from a cache)."""
    return set(db.session.scalars(
        sa.select(Permission.code).distinct()
        .join(role_permissions, role_permissions.c.permission_id == Permission.id)
        .join(user_roles, user_roles.c.role_id == role_permissions.c.role_id)
        .where(user_roles.c.user_id == user_id)
    ))


def _role_codes(roles: Iterable[Role]) -> set[str]:
    return {perm.code for role in roles for perm in role.permissions}


def require_no_escalation(actor_id: int | None, codes: Iterable[str], *, field: str | None = None) -> None:
    """Nobody acts on, grants or edits permissions they do not hold themselves (None: the CLI)."""
    if actor_id is None:
        return
    missing = set(codes) - held_codes(actor_id)
    if missing:
        raise Forbidden(_("You cannot do this: it involves permissions you do not hold (%(codes)s).",
                          codes=", ".join(sorted(missing))), field=field)


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
    revoke_sessions(user.id)


def get_user(user_id: int) -> User:
    """The user with this id or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


# Column sizes of the users table; checked here so a huge value gets a message, not a 500.
PROFILE_LIMITS = {"username": 64, "name": 64, "email": 254, "phone": 32, "wechat_openid": 64}
USERNAME_PATTERN = re.compile(r"^[\w.@-]+$")
ROLE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check_profile(
    *, name: str | None, email: str | None, phone: str | None, wechat_openid: str | None,
    department_id: int | None, kind: str,
) -> None:
    """Refuse profile values the table cannot hold or that point nowhere."""
    values = {"name": name, "email": email, "phone": phone, "wechat_openid": wechat_openid}
    for field, value in values.items():
        if value is not None and len(value) > PROFILE_LIMITS[field]:
            raise DomainError(
                _("This value may have at most %(n)d characters.", n=PROFILE_LIMITS[field]), field=field
            )
    if not name:
        raise DomainError(_("A name is required."), field="name")
    if kind not in (User.KIND_STAFF, User.KIND_STUDENT):
        raise DomainError(_("Unknown kind of account."), field="kind")
    if department_id is not None and db.session.get(Department, department_id) is None:
        raise DomainError(_("No such department."), field="department_id")


def _roles_by_ids(role_ids: Iterable[int]) -> list[Role]:
    ids = sorted(set(role_ids))
    roles = list(db.session.scalars(sa.select(Role).where(Role.id.in_(ids)))) if ids else []
    if len(roles) != len(ids):
        raise DomainError(_("Unknown role."), field="roles")
    return roles


def create_user(
    actor_id: int | None,
    *,
    username: str,
    name: str,
    password: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    wechat_openid: str | None = None,
    department_id: int | None = None,
    kind: str = User.KIND_STAFF,
    role_names: Iterable[str] = (),
    role_ids: Iterable[int] = (),
    must_change_password: bool = True,
    roles_by_rule: bool = False,
) -> tuple[User, str]:
    """Create an account; returns the user and the initial password.

    `roles_by_rule`: the roles come from a product rule (a converted lead's student account),
    not from the actor's choice, so the no-escalation check does not apply.
    """
    username = (username or "").strip()
    if not username:
        raise DomainError(_("A user name is required."), field="username")
    if len(username) > PROFILE_LIMITS["username"]:
        raise DomainError(
            _("This value may have at most %(n)d characters.", n=PROFILE_LIMITS["username"]), field="username"
        )
    if not USERNAME_PATTERN.match(username):
        raise DomainError(
            _("A user name may contain only letters, digits and . _ - @ (no spaces)."), field="username"
        )
    name = _clean(name) or username
    email, phone, wechat_openid = _clean(email), _clean(phone), _clean(wechat_openid)
    _check_profile(name=name, email=email, phone=phone, wechat_openid=wechat_openid,
                   department_id=department_id, kind=kind)
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())):
        raise Conflict(_("The user name %(u)s is already taken.", u=username), field="username")
    initial = password or random_password()
    validate_password(initial)
    roles: list[Role] = []
    names = sorted(set(role_names))
    if names:
        roles = list(db.session.scalars(sa.select(Role).where(Role.name.in_(names))))
        if len(roles) != len(names):
            raise DomainError(_("Unknown role."), field="roles")
    roles.extend(r for r in _roles_by_ids(role_ids) if r not in roles)
    if not roles_by_rule:
        require_no_escalation(actor_id, _role_codes(roles), field="roles")
    user = User(
        username=username, name=name, email=email, phone=phone, wechat_openid=wechat_openid,
        department_id=department_id, kind=kind, active=True, must_change_password=must_change_password,
    )
    user.set_password(initial)
    user.roles = roles
    try:
        # The unique index decides when two people create the same name at once.
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(_("The user name %(u)s is already taken.", u=username), field="username") from None
    audit.record(actor_id, "user.create", "user", user.id, username=username,
                 roles=sorted(r.name for r in roles))
    db.session.flush()
    return user, initial


def update_profile(
    actor_id: int,
    user_id: int,
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    wechat_openid: str | None = None,
    department_id: int | None = None,
    kind: str = User.KIND_STAFF,
) -> User:
    """Change a user's profile (P-2); the changed fields are audited."""
    user = get_user(user_id)
    require_no_escalation(actor_id, held_codes(user.id))
    values = {
        "name": _clean(name), "email": _clean(email), "phone": _clean(phone),
        "wechat_openid": _clean(wechat_openid), "department_id": department_id, "kind": kind,
    }
    _check_profile(**values)
    changed = {}
    for field, value in values.items():
        if getattr(user, field) != value:
            changed[field] = [getattr(user, field), value]
            setattr(user, field, value)
    if changed:
        audit.record(actor_id, "user.update", "user", user.id, changed=changed)
    db.session.flush()
    return user


def reset_password(actor_id: int, user_id: int) -> str:
    """Give a user a new random password that must be changed at next sign-in."""
    user = get_user(user_id)
    require_no_escalation(actor_id, held_codes(user.id))
    password = random_password()
    user.set_password(password)
    user.must_change_password = True
    clear_failures(user.username)
    audit.record(actor_id, "user.reset_password", "user", user.id)
    db.session.flush()
    revoke_sessions(user.id)
    return password


def set_active(actor_id: int, user_id: int, active: bool) -> User:
    """Activate or deactivate an account; its history stays."""
    user = get_user(user_id)
    if actor_id == user_id and not active:
        raise DomainError(_("You cannot deactivate your own account."))
    require_no_escalation(actor_id, held_codes(user.id))
    if user.active == active:
        return user
    user.active = active
    audit.record(actor_id, "user.activate" if active else "user.deactivate", "user", user.id)
    db.session.flush()
    if not active:
        revoke_sessions(user.id)
    return user


def set_user_roles(actor_id: int, user_id: int, role_ids: Iterable[int]) -> User:
    """Replace a user's roles (audited)."""
    user = get_user(user_id)
    roles = _roles_by_ids(role_ids)
    require_no_escalation(actor_id, held_codes(user.id) | _role_codes(roles), field="roles")
    before = sorted(r.name for r in user.roles)
    after = sorted(r.name for r in roles)
    if actor_id == user_id and "admin" in before and "admin" not in after:
        raise DomainError(_("You cannot remove the administrator role from yourself."), field="roles")
    user.roles = roles
    if before != after:
        audit.record(actor_id, "user.roles", "user", user.id, before=before, after=after)
    db.session.flush()
    return user


# -- roles -----------------------------------------------------------------------------
def role_user_counts() -> dict[int, int]:
    """Number of users holding each role, in one query."""
    rows = db.session.execute(
        sa.select(user_roles.c.role_id, sa.func.count()).group_by(user_roles.c.role_id)
    )
    return {role_id: count for role_id, count in rows}


def get_role(role_id: int) -> Role:
    """The role with this id or NotFound."""
    role = db.session.get(Role, role_id)
    if role is None:
        raise NotFound(_("No such role."))
    return role


def create_role(actor_id: int, *, name: str, title: str, description: str = "") -> Role:
    """Create a custom role without permissions (audited)."""
    name = (name or "").strip().lower()
    title = (title or "").strip()
    description = (description or "").strip()
    if not ROLE_NAME_PATTERN.match(name):
        raise DomainError(
            _("A role name has 2 to 32 characters: lower-case letters, digits and _, starting with a letter."),
            field="name",
        )
    if not title:
        raise DomainError(_("A title is required."), field="title")
    if len(title) > 64:
        raise DomainError(_("This value may have at most %(n)d characters.", n=64), field="title")
    if len(description) > 255:
        raise DomainError(_("This value may have at most %(n)d characters.", n=255), field="description")
    role = Role(name=name, title=title, description=description)
    try:
        with db.session.begin_nested():
            db.session.add(role)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(_("A role named %(n)s already exists.", n=name), field="name") from None
    audit.record(actor_id, "role.create", "role", role.id, name=name, title=title)
    db.session.flush()
    return role


def set_role_permissions(actor_id: int, role_id: int, codes: Iterable[str]) -> Role:
    """Replace a role's permissions (audited)."""
    role = get_role(role_id)
    wanted = sorted(set(codes))
    if role.name == "admin" and set(wanted) != set(catalog.PERMISSIONS):
        # sync_rbac gives the administrator every code back; refusing keeps the page honest.
        raise DomainError(_("The administrator role always holds every permission."), field="permissions")
    perms = list(db.session.scalars(sa.select(Permission).where(Permission.code.in_(wanted)))) if wanted else []
    if len(perms) != len(wanted):
        raise DomainError(_("Unknown permission."), field="permissions")
    before = sorted(p.code for p in role.permissions)
    require_no_escalation(actor_id, set(wanted) | set(before), field="permissions")
    role.permissions = perms
    if before != wanted:
        audit.record(actor_id, "role.permissions", "role", role.id, before=before, after=wanted,
                     added=sorted(set(wanted) - set(before)), removed=sorted(set(before) - set(wanted)))
    db.session.flush()
    return role
