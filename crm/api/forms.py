"""Forms of the API token admin pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from crm.core.forms import CrmForm


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class TokenForm(CrmForm):
    """Create an API token for a website or partner."""

    name = StringField(_l("Name"), filters=[_strip], validators=[DataRequired(), Length(max=64)])
    rate_per_minute = IntegerField(
        _l("Requests per minute"), default=60, validators=[DataRequired(), NumberRange(min=1, max=100000)],
    )


class ConfirmForm(CrmForm):
    """An empty form: CSRF protection for a confirmed POST action."""
