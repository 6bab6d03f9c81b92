"""Web-to-lead JSON API (S-10) and the admin pages that manage its tokens."""
from flask import Blueprint, Flask

bp = Blueprint("api", __name__)


def init_app(app: Flask) -> None:
    """The API under /api/v1 (token-authenticated, no CSRF) and the token admin pages."""
    import crm.api.models  # noqa: F401
    from crm.api import views  # noqa: F401 - registers the routes on bp
    from crm.api.admin_views import register_api_admin
    from crm.extensions import csrf

    app.register_blueprint(bp, url_prefix="/api/v1")
    csrf.exempt(bp)  # token-authenticated JSON; no browser session involved
    register_api_admin(app)
