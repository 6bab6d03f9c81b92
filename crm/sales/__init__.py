"""Sales: leads, allocation, follow-up, pool, payments, students."""
from flask import Blueprint

bp = Blueprint("sales", __name__, template_folder="templates")

# View modules, one per part of the area (each registers routes on `bp`).
from crm.sales import views, import_views, pool_views, payment_views, dashboard_views  # noqa: E402,F401


@bp.record_once
def init_allocation(state) -> None:
    """Keep the allocation queue in step with allocation-table and account changes."""
    from crm.sales.allocation import init_app

    init_app(state.app)
