"""Teaching: course sessions, study records, attendance, scores, homework and the student portal (T-1 … T-9)."""
from flask import Blueprint, Flask, url_for

bp = Blueprint("teaching", __name__, template_folder="templates")


def student_home(user) -> str | None:
    """A student's start page is their portal (T-8)."""
    from crm.auth.models import User

    if getattr(user, "kind", None) == User.KIND_STUDENT and user.has_permission("teaching.portal"):
        return url_for("teaching.portal")
    return None


def init_app(app: Flask) -> None:
    """Teaching pages under /teaching, their menu, the student start page and demo data."""
    from flask_babel import lazy_gettext as _l

    import crm.teaching.models  # noqa: F401
    from crm.core.areas import register_home, register_seeder
    from crm.core.menu import MenuItem, register_menu
    from crm.teaching import portal_views, record_views, views  # noqa: F401 - register the routes on bp
    from crm.teaching.demo import seed_teaching_area

    app.register_blueprint(bp, url_prefix="/teaching")
    register_menu(app, "teaching", _l("Teaching"), 40, [
        MenuItem(_l("My classes"), "teaching.my_classes", "teaching.session.view", order=10),
        MenuItem(_l("My portal"), "teaching.portal", "teaching.portal", order=20),
    ])
    register_home(app, redirect=student_home, order=40)
    register_seeder(app, "teaching", 40, seed_teaching_area)
