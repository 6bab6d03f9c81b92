"""Accounts, departments and role-based access control tables."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from crm.core.clock import utcnow
from crm.extensions import db

user_roles = sa.Table(
    "user_roles",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

role_permissions = sa.Table(
    "role_permissions",
    db.metadata,
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("permission_id", sa.ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
)


class Department(db.Model):
    """A department with a unique numeric code (P-2)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(sa.String(64))

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"


class Permission(db.Model):
    """A permission code such as 'sales.pool.grab', grouped by area."""

    __tablename__ = "permissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    area: Mapped[str] = mapped_column(sa.String(32), index=True)
    label: Mapped[str] = mapped_column(sa.String(128))

    def __str__(self) -> str:
        return self.code

    @property
    def display_label(self) -> str:
        """The label to show: translated when it is the catalogue's text."""
        from crm.auth.catalog import permission_text

        return permission_text(self.code, self.label)


class Role(db.Model):
    """A named set of permissions."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), unique=True)
    title: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(255), default="")

    permissions: Mapped[list[Permission]] = relationship(
        secondary=role_permissions, order_by="Permission.code"
    )

    def __str__(self) -> str:
        return self.title

    @property
    def display_title(self) -> str:
        """The title to show: translated for an unchanged default role, else as stored."""
        from crm.auth.catalog import role_text

        return role_text(self.name, self.title, 0)

    @property
    def display_description(self) -> str:
        """The description to show: translated for an unchanged default role, else as stored."""
        from crm.auth.catalog import role_text

        return role_text(self.name, self.description, 1)


class User(UserMixin, db.Model):
    """A staff member or a student who can sign in (P-1, P-2)."""

    __tablename__ = "users"

    KIND_STAFF = "staff"
    KIND_STUDENT = "student"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    kind: Mapped[str] = mapped_column(sa.String(16), default=KIND_STAFF)
    name: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    wechat_openid: Mapped[str | None] = mapped_column(sa.String(64))
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Part of every session and remember-me cookie; raising it ends them all (sign-out, password, deactivation).
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    department: Mapped[Department | None] = relationship(lazy="joined")
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, order_by="Role.name")

    __table_args__ = (
        sa.CheckConstraint("kind in ('staff', 'student')", name="kind"),
        # User names are unique whatever their case ("Wang" and "wang" are one account).
        sa.Index("uq_users_username_lower", sa.func.lower(sa.literal_column("username")), unique=True),
    )

    def __str__(self) -> str:
        return self.name

    # -- Flask-Login ------------------------------------------------------
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Deactivated accounts cannot sign in or stay signed in."""
        return bool(self.active)

    def get_id(self) -> str:
        """"<id>:<session version>:<sign-in nonce>", kept in the session and the signed remember cookie.

        The loader accepts it only while the version is the account's current one; the nonce
        (new at each sign-in) makes every remember cookie a different value.
        """
        nonce = self.__dict__.get("_sign_in_nonce") or "0"
        return f"{self.id}:{self.session_version}:{nonce}"

    # -- passwords --------------------------------------------------------
    def set_password(self, password: str) -> None:
        """Store a scrypt hash of the password; the clear text is never kept."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        """Compare a candidate password with the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    # -- permissions ------------------------------------------------------
    @property
    def permission_codes(self) -> frozenset[str]:
        """The codes this user holds through their roles, loaded once per request."""
        cached = self.__dict__.get("_permission_codes")
        if cached is None:
            rows = db.session.scalars(
                sa.select(Permission.code)
                .join(role_permissions, role_permissions.c.permission_id == Permission.id)
                .join(user_roles, user_roles.c.role_id == role_permissions.c.role_id)
                .where(user_roles.c.user_id == self.id)
            )
            cached = frozenset(rows)
            self.__dict__["_permission_codes"] = cached
        return cached

    def has_any_permission(self, codes: Iterable[str]) -> bool:
        """True when the user holds at least one of `codes`."""
        held = self.permission_codes
        return any(code in held for code in codes)

    def has_permission(self, code: str) -> bool:
        """True when the user holds `code`."""
        return code in self.permission_codes

    def has_role(self, name: str) -> bool:
        """True when the user has the named role."""
        return any(role.name == name for role in self.roles)
