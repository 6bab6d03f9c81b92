"""Sales: leads, allocation, follow-up, pool, payments.

Sub-packages by feature, each with the same file names: leads/ (intake, lead
pages, privacy), pool/ (expiry rule, reclaim, pool and grab), imports/ (Excel
import), payments/ (payments, conversion), dashboard/. Shared by all of them:
models.py, choices.py, people.py (who is a consultant), allocation.py (the queue).
"""
from celery.schedules import crontab
from flask import Blueprint, Flask

bp = Blueprint("sales", __name__, template_folder="templates")


def _register_choice_labels() -> None:
    """`choice_label(table, code)` and `choice_items(table)` in every template (pages and e-mails)."""
    from crm.sales import choices

    bp.add_app_template_global(choices.label, "choice_label")
    bp.add_app_template_global(choices.items, "choice_items")
    bp.app_context_processor(choices.template_helpers)  # the same, bound to the rendering's language


_register_choice_labels()

def init_app(app: Flask) -> None:
    """Sales pages under /sales, their menu, the allocation queue hook, tasks, schedule, CLI and demo data."""
    import crm.sales.models  # noqa: F401
    from crm.core.areas import register_beat, register_commands, register_seeder, register_tasks, sweep_schedule
    from crm.sales import allocation
    from crm.sales.cli import COMMANDS

    # View modules, one per part of the area (each registers routes on `bp`).
    from crm.sales.dashboard import views as dashboard_views  # noqa: F401
    from crm.sales.demo import seed_sales_area
    from crm.sales.imports import views as import_views
    from crm.sales.leads import views
    from crm.sales.payments import views as payment_views  # noqa: F401
    from crm.sales.pool import run_views  # noqa: F401
    from crm.sales.pool import views as pool_views

    app.register_blueprint(bp, url_prefix="/sales")
    views.register_sales_menu(app)
    import_views.register_import_menu(app)
    pool_views.register_sales_pool_menu(app)
    allocation.init_app(app)
    register_tasks(app, "crm.sales.pool.tasks", "crm.sales.imports.tasks")
    # S-15: local time (the Celery app's timezone is CRM_TIMEZONE).
    register_beat(app, "reclaim-expired-leads", "crm.sales.reclaim_expired_leads", crontab(hour=0, minute=5))
    # S-9: an import whose worker died resumes within minutes (heartbeat), not after the broker's hour.
    register_beat(app, "resume-stalled-imports", "crm.sales.resume_stalled_imports", sweep_schedule(app))
    register_beat(app, "remind-expiring-leads", "crm.sales.remind_expiring_leads", crontab(hour=9, minute=0))
    register_commands(app, *COMMANDS)
    register_seeder(app, "sales", 30, seed_sales_area)
