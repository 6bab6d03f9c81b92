"""Cross-cutting helpers: clock, access control, audit log, errors, lists, the unit of work."""
from flask import Flask


def init_app(app: Flask) -> None:
    """Home page, health check, language switch, the audit table and the transaction edge."""
    import crm.core.audit  # noqa: F401
    from crm.core import uow
    from crm.core.views import bp

    uow.init_app(app)
    app.register_blueprint(bp)
