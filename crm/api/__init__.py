"""Web-to-lead JSON API (S-10) and the admin pages that manage its tokens."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from crm.api import views  # noqa: E402,F401


@bp.record_once
def register_token_admin(state) -> None:
    """Mount the token admin pages (a separate blueprint: they are forms and keep CSRF) and their menu."""
    from crm.api.admin_views import register_api_admin

    register_api_admin(state.app)
