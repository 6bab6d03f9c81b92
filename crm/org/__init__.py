"""Organisation reference data: schools, courses, classes, departments."""
from flask import Flask


def init_app(app: Flask) -> None:
    """The org tables and their admin pages."""
    import crm.org.models  # noqa: F401
    from crm.org.admin import register_org_admin

    register_org_admin(app)
