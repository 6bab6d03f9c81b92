"""Sales dashboard page, its Excel export, and the S-7 weight proposal fragment."""
from __future__ import annotations

import datetime as dt

from flask import flash, render_template, request
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user

from crm.core import clock
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.listing import to_date, xlsx_response
from crm.sales import bp, choices
from crm.sales.dashboard import services as dashboard


def _period(default_days: int | None = None) -> tuple[dt.date, dt.date, str | None]:
    """start/end from the query string (default: this month so far); a message when they were refused."""
    today = clock.today()
    default_start = today.replace(day=1) if default_days is None else today - dt.timedelta(days=default_days)
    start = to_date(request.args.get("start", "")) or default_start
    end = to_date(request.args.get("end", "")) or today
    bad = any(request.args.get(k, "").strip() and to_date(request.args.get(k, "")) is None for k in ("start", "end"))
    try:
        dashboard.check_period(start, end)
    except DomainError as error:
        return default_start, today, error.message
    return start, end, _("Enter dates as YYYY-MM-DD.") if bad else None


def _visible_ids() -> set[int] | None:
    """Everyone for sales.dashboard.all, otherwise only oneself."""
    return None if current_user.has_permission("sales.dashboard.all") else {current_user.id}


def origin_labels() -> dict[str, str]:
    """Translated labels of the history origins."""
    return {
        choices.ORIGIN_AUTO: _("Auto-allocated"), choices.ORIGIN_IMPORT: _("Imported"),
        choices.ORIGIN_API: _("Website"), choices.ORIGIN_GRAB: _("Grabbed"), choices.ORIGIN_ASSIGN: _("Assigned"),
    }


@bp.route("/dashboard", endpoint="dashboard")
@permission_required("sales.dashboard.view")
def dashboard_page():
    """Per-consultant figures for a period, the funnel and charts (directors see everyone)."""
    start, end, message = _period()
    if message:
        flash(message, "warning")
    board = dashboard.build_dashboard(start, end, _visible_ids())
    # "Received" as a number of leads, not the date column of the lead lists: its own message context.
    received = pgettext("lead count", "Received")
    labels = {"received": received, "followed_up": _("Followed up"), "converted": _("Converted")}
    chart = {
        "funnel": {"labels": [labels[k] for k, _v in board.funnel()], "values": [v for _k, v in board.funnel()]},
        "consultants": [r.name for r in board.rows],
        "series": {
            "received": [r.received_total for r in board.rows],
            "converted": [r.converted for r in board.rows],
            "lost": [r.lost_total for r in board.rows],
            "revenue": [r.revenue for r in board.rows],
        },
        "legend": {"received": received, "converted": _("Converted"), "lost": _("Lost"),
                   "revenue": _("Revenue (yuan)")},
        "axes": {"leads": _("Leads"), "money": _("Yuan")},
    }
    return render_template("sales/dashboard.html", board=board, chart=chart, origins=dashboard.ORIGINS,
                           origin_labels=origin_labels(), show_totals=_visible_ids() is None)


@bp.route("/dashboard.xlsx", endpoint="dashboard_export")
@permission_required("sales.dashboard.view")
def dashboard_export():
    """The dashboard rows as .xlsx (the same figures and visibility as the page)."""
    start, end, _message = _period()
    board = dashboard.build_dashboard(start, end, _visible_ids())
    labels = origin_labels()
    headers = [_("Consultant")] + [labels[o] for o in dashboard.ORIGINS] + [
        pgettext("lead count", "Received"), _("Follow-ups"), _("Followed-up leads"), _("Converted"),
        _("Lost: 3 days without follow-up"), _("Lost: 15 days without conversion"), _("Conversion rate"),
        _("Revenue (yuan)"),
    ]
    rows = [
        [r.name] + [r.received.get(o, 0) for o in dashboard.ORIGINS] + [
            r.received_total, r.follow_ups, r.followed_leads, r.converted,
            r.lost.get(choices.LOST_NO_FOLLOW_UP, 0), r.lost.get(choices.LOST_NO_CONVERSION, 0),
            round(r.conversion_rate, 4) if r.conversion_rate is not None else None, r.revenue,
        ]
        for r in board.rows
    ]
    return xlsx_response(f"sales-dashboard-{start}-{end}.xlsx", headers, rows, sheet_title="dashboard")


@bp.route("/allocation/weight-proposal", endpoint="weight_proposal")
@permission_required("sales.allocation.manage")
def weight_proposal():
    """S-7 fragment for the allocation page: conversion rates over a period and proposed weights."""
    start, end, message = _period(default_days=90)
    proposals = dashboard.propose_weights(start, end)
    return render_template("sales/dashboard_weights.html", proposals=proposals, start=start, end=end,
                           message=message)
