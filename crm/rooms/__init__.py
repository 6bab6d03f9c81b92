"""Meeting rooms: day grid, week view, all-or-nothing changes, repeat bookings, iCalendar feed (R-1 … R-6)."""
from flask import Blueprint, Flask

bp = Blueprint("rooms", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Room tables, the /rooms pages, the rooms admin, the sidebar entries and the demo bookings."""
    import crm.rooms.models  # noqa: F401
    from crm.core.areas import register_seeder
    from crm.rooms import views  # noqa: F401 - registers the routes on bp
    from crm.rooms.admin import register_rooms_admin
    from crm.rooms.demo import seed_rooms_demo

    app.register_blueprint(bp, url_prefix="/rooms")
    views.register_rooms_menu(app)
    register_rooms_admin(app)
    register_seeder(app, "rooms", 50, seed_rooms_demo)
