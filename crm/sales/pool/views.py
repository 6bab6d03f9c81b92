"""Public pool page, grab and director assignment (S-16, S-17)."""
from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.core import clock, uow
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.listing import (
    current_list_url,
    parse_list_query,
    to_date,
    to_int,
    url_with,
)
from crm.core.menu import MenuItem, register_menu
from crm.core.safe_redirect import is_local_path
from crm.extensions import db
from crm.org.models import course_options
from crm.sales import bp, choices
from crm.sales.pool import services as pool

POOL_SORTS = {"inquiry": "inquiry_date", "id": "id"}  # sort key → column of the pool's rows


def register_sales_pool_menu(app: Flask) -> None:
    """Sidebar entries of the pool, dashboard and students pages (area "sales")."""
    register_menu(app, "sales", _l("Sales"), 20, [
        MenuItem(_l("Public pool"), "sales.pool", "sales.pool.view"),
        MenuItem(_l("Students"), "sales.students", "sales.payment.create"),
        MenuItem(_l("Sales dashboard"), "sales.dashboard", "sales.dashboard.view"),
    ])


def _back(default: str) -> str:
    """The list URL the form came from (filters kept), when it is local."""
    target = request.form.get("next", "")
    return target if is_local_path(target) else default


@bp.route("/pool", endpoint="pool")
@permission_required("sales.pool.view")
def pool_page():
    """The public pool: not-enrolled leads that are unassigned or expired today; no contact details."""
    today = clock.today()
    query = parse_list_query(
        request.args, sorts=POOL_SORTS, default_sort="-inquiry",
        filters={"source": to_int, "course": to_int, "from": to_date, "to": to_date, "reason": to_int},
    )
    f = query.filters
    filters = pool.PoolFilters(
        source=f.get("source") if f.get("source") in choices.SOURCE else None,
        course_id=f.get("course"), inquiry_from=f.get("from"), inquiry_to=f.get("to"),
        reason=f.get("reason") if f.get("reason") in pool.REASON_FILTERS else None, search=query.search,
    )
    page = pool.pool_page(today, filters, query, POOL_SORTS)
    rows = pool.display_rows(page.items, today, current_user.id, pool.courses_of([row.id for row in page.items]))
    can_assign = current_user.has_permission("sales.pool.assign")
    consultants = [(user.id, user.name) for user in pool.consultants_for_assignment()] if can_assign else []
    return render_template(
        "sales/pool.html", page=page, rows=rows, query=query, filters=filters,
        all_courses=course_options(),
        consultants=consultants, can_assign=can_assign, url_with=url_with,
        can_grab=current_user.has_permission("sales.pool.grab"),
        sources=choices.SOURCE, reasons=choices.POOL_REASONS, next_url=current_list_url(),
    )


@bp.route("/pool/<int:customer_id>/grab", methods=["POST"])
@permission_required("sales.pool.grab")
def pool_grab(customer_id: int):
    """Grab a pool lead (POST + CSRF); the database decides between simultaneous grabbers."""
    back = _back(url_for("sales.pool"))
    try:
        pool.grab(current_user.id, customer_id, clock.today())
        uow.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "warning")
        return redirect(back)
    flash(_("The lead is yours now. Follow it up within 3 days."), "success")
    return redirect(lead_url(customer_id) or back)


@bp.route("/pool/<int:customer_id>/assign", methods=["POST"])
@permission_required("sales.pool.assign")
def pool_assign(customer_id: int):
    """A director assigns a pool lead to a consultant (POST + CSRF)."""
    back = _back(url_for("sales.pool"))
    consultant_id = to_int(request.form.get("consultant_id", ""))
    if consultant_id is None:
        flash(_("Choose a consultant."), "warning")
        return redirect(back)
    try:
        pool.assign(current_user.id, customer_id, consultant_id, clock.today())
        uow.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "warning")
        return redirect(back)
    flash(_("The lead has been assigned."), "success")
    return redirect(back)


def lead_url(customer_id: int) -> str | None:
    """The lead detail page's URL when that page exists (it belongs to the lead pages)."""
    from flask import current_app

    for endpoint in ("sales.lead_detail", "sales.lead", "sales.customer_detail"):
        if endpoint in current_app.view_functions:
            return url_for(endpoint, customer_id=customer_id)
    return None
