"""Accounts, sign-in and role-based access control."""
from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")

from crm.auth import manage, views  # noqa: E402,F401
