"""Accounts, sign-in and role-based access control."""
from flask import Blueprint, Flask

bp = Blueprint("auth", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Sign-in pages under /auth and the user, role and audit admin."""
    import crm.auth.models  # noqa: F401
    from crm.auth import manage, views  # noqa: F401 - register the routes on bp
    from crm.auth.admin import register_auth_admin

    app.register_blueprint(bp, url_prefix="/auth")
    register_auth_admin(app)
