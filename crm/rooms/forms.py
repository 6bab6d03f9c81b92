"""Forms of the rooms area: the rooms admin form and the parsing of a grid submit."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from crm.core.admin import CrmAdminForm, UniqueValue
from crm.core.forms import CrmForm
from crm.rooms.cells import Cell, parse_cell
from crm.rooms.models import Room

MAX_CAPACITY = 10_000
# Values one submit may carry per list; more is refused before parsing (a full week of a room is 91).
MAX_VALUES = 1000


def strip_text(value):
    """Trim surrounding whitespace so '   ' counts as empty."""
    return value.strip() if isinstance(value, str) else value


def no_control_characters(form, field) -> None:
    """Names are printed on every grid: no NUL or other control characters."""
    if isinstance(field.data, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
        raise ValidationError(_("Control characters are not allowed."))


class RoomForm(CrmAdminForm):
    """Create or edit a meeting room (R-1)."""

    name = StringField(
        _l("Name"),
        filters=[strip_text],
        validators=[
            DataRequired(_l("Enter the room's name.")),
            Length(max=64, message=_l("At most %(max)d characters.")),
            no_control_characters,
            UniqueValue(Room.name, _l("A room with this name already exists.")),
        ],
    )
    capacity = IntegerField(
        _l("Capacity"),
        default=8,
        validators=[InputRequired(_l("Enter how many people fit in the room.")),
                    NumberRange(min=1, max=MAX_CAPACITY, message=_l("Between %(min)d and %(max)d."))],
    )
    active = BooleanField(_l("Active (takes bookings)"), default=True)


class FeedKeyForm(CrmForm):
    """Regenerate the secret calendar URL (CSRF only)."""


@dataclass
class ChangeRequest:
    """A parsed grid submit."""

    book: list[Cell] = field(default_factory=list)
    cancel: list[Cell] = field(default_factory=list)
    repeat_weeks: int = 1
    skip_taken: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def parse_change(formdata) -> ChangeRequest:
    """Read `book`, `cancel`, `repeat_weeks` and `on_conflict` from a submit; bad values become field errors."""
    request = ChangeRequest()
    for name in ("book", "cancel"):
        raw = formdata.getlist(name)
        if len(raw) > MAX_VALUES:
            request.errors[name] = _("Too many cells in one change (at most %(n)d).", n=MAX_VALUES)
            continue
        cells = [parse_cell(value) for value in raw]
        if any(cell is None for cell in cells):
            request.errors[name] = _("A selected cell is not valid; reload the page and try again.")
            continue
        setattr(request, name, cells)
    weeks = (formdata.get("repeat_weeks") or "1").strip()
    if not (weeks.isascii() and weeks.isdigit() and len(weeks) <= 4):
        request.errors["repeat_weeks"] = _("Enter a whole number of weeks.")
    else:
        request.repeat_weeks = int(weeks)
    request.skip_taken = formdata.get("on_conflict") == "skip"
    return request
