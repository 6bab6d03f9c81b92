"""Forms of the accounts area."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from crm.core.forms import CrmForm


class LoginForm(CrmForm):
    """Sign in with user name and password."""

    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Keep me signed in"))
    next = HiddenField()


class ChangePasswordForm(CrmForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two new passwords differ."))],
    )


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ProfileFields(CrmForm):
    """Profile fields shared by the create and edit forms (P-2)."""

    name = StringField(_l("Name"), filters=[_strip], validators=[DataRequired(), Length(max=64)])
    email = StringField(
        _l("E-mail"), filters=[_strip],
        validators=[Optional(), Length(max=254), Email(message=_l("Enter a valid e-mail address."))],
    )
    phone = StringField(
        _l("Phone"), filters=[_strip],
        validators=[Optional(), Length(max=32),
                    Regexp(r"^[0-9+()\- ]+$", message=_l("A phone number has only digits, spaces and + - ( )."))],
    )
    department_id = SelectField(_l("Department"), coerce=int, validate_choice=True)
    wechat_openid = StringField(_l("WeChat openid"), filters=[_strip], validators=[Optional(), Length(max=64)])
    kind = SelectField(
        _l("Kind"),
        choices=[("staff", _l("Staff")), ("student", _l("Student"))],
    )


class UserCreateForm(ProfileFields):
    """Create an account; the initial password is generated and shown once."""

    username = StringField(_l("User name"), filters=[_strip], validators=[DataRequired(), Length(max=64)])
    roles = SelectMultipleField(_l("Roles"), coerce=int)


class UserEditForm(ProfileFields):
    """Edit a user's profile."""


class UserRolesForm(CrmForm):
    """Replace a user's roles."""

    roles = SelectMultipleField(_l("Roles"), coerce=int)


class ConfirmForm(CrmForm):
    """A POST that carries only the CSRF token (reset password, deactivate, ...)."""


class RoleCreateForm(CrmForm):
    """Create a custom role."""

    name = StringField(
        _l("Name (code)"), filters=[_strip],
        validators=[DataRequired(), Length(max=32),
                    Regexp(r"^[a-z][a-z0-9_]{1,31}$",
                           message=_l("Lower-case letters, digits and _, starting with a letter."))],
    )
    title = StringField(_l("Title"), filters=[_strip], validators=[DataRequired(), Length(max=64)])
    description = StringField(_l("Description"), filters=[_strip], validators=[Optional(), Length(max=255)])


class RolePermissionsForm(CrmForm):
    """The permission matrix of a role: one checkbox per code."""

    permissions = SelectMultipleField(_l("Permissions"))
