"""Web-to-lead JSON API (S-10)."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from crm.api import views  # noqa: E402,F401
