"""The rooms admin list (R-1) through the Flask-Admin wrapper; permission rooms.manage."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.core.admin import SecuredModelView, add_secured_view
from crm.extensions import db
from crm.rooms.forms import RoomForm
from crm.rooms.models import Room, RoomBooking


class RoomView(SecuredModelView):
    """Meeting rooms: name, capacity, active."""

    permission_view = "rooms.manage"
    permission_edit = "rooms.manage"
    permission_export = "rooms.manage"

    form = RoomForm
    column_list = ["name", "capacity", "active"]
    column_searchable_list = ["name"]
    column_sortable_list = ["name", "capacity", "active"]
    column_default_sort = "name"
    column_filters = ["active"]
    column_labels = {"name": _l("Name"), "capacity": _l("Capacity"), "active": _l("Active (takes bookings)")}

    def in_use_message(self, model) -> str:
        """A room with bookings keeps them: deactivate it instead."""
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(RoomBooking).where(RoomBooking.room_id == model.id)) or 0
        if count:
            return _("The room “%(name)s” has %(n)d bookings; make it inactive instead of deleting it.",
                     name=model.name, n=count)
        return super().in_use_message(model)


def register_rooms_admin(app: Flask) -> None:
    """Mount the rooms list at /rooms/admin."""
    add_secured_view(app, RoomView(Room, name=_l("Rooms"), endpoint="rooms_admin", url="/rooms/admin"))
