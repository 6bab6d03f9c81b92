"""The rows of the busiest lead lists as their pages print them (My customers, all leads).

Labels, badges and links are worked out here in one pass over the page's rows, so the
template's loop only prints ready values: a helper or macro called from a template costs
several times the same call from Python, and a list page makes hundreds of them.
"""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from flask import get_template_attribute
from flask_babel import get_translations
from flask_babel import gettext as _
from markupsafe import Markup

from crm.core.listing import row_urls
from crm.sales import choices


class HeldRow(NamedTuple):
    """A lead of My customers (Following tab)."""

    id: int
    name: str
    qq: str
    phone: str
    courses: str
    received_on: dt.date | None
    last_follow_up_on: dt.date | None
    url: str
    badge: Markup  # sales/_macros.html expiry_badge
    last_day: str  # "last day …", empty when the lead never expires


def held_rows(items: list) -> list[HeldRow]:
    """My customers' page items ((lead row, countdown, course names)) as printed rows.

    The expiry badge is the macro's output, rendered once per distinct countdown of the page.
    """
    macro = get_template_attribute("sales/_macros.html", "expiry_badge")
    badges: dict = {}  # days left → the badge (the macro reads nothing else of the countdown)
    gettext = get_translations().ugettext  # the catalogue looked up once, not per row
    last_day = gettext("last day %(d)s")
    detail_url = row_urls("sales.lead_detail", "customer_id")
    rows = []
    for lead, countdown, course_names in items:
        badge = badges.get(countdown.days_left)
        if badge is None:
            badge = badges[countdown.days_left] = macro(countdown)
        rows.append(HeldRow(lead.id, lead.name, lead.qq, lead.phone or "", ", ".join(course_names),
                            lead.received_on, lead.last_follow_up_on, detail_url(lead.id), badge,
                            last_day % {"d": countdown.last_day} if countdown.expires_on else ""))
    return rows


class LeadRow(NamedTuple):
    """A lead of the all-leads list."""

    id: int
    name: str
    qq: str
    phone: str
    source: str
    status: str
    consultant: str  # the holder's name, or "Public pool"
    inquiry_date: dt.date | None
    received_on: dt.date | None
    last_follow_up_on: dt.date | None
    url: str


def lead_rows(items: list, names: dict[int, str], next_url: str) -> list[LeadRow]:
    """The all-leads page's rows (LIST_COLUMNS) as printed rows; `names` maps holder ids to names."""
    sources, statuses = choices.labels(choices.SOURCE), choices.labels(choices.STATUS)
    pool = _("Public pool")
    detail_url = row_urls("sales.lead_detail", "customer_id", next=next_url)
    return [LeadRow(
        c.id, c.name, c.qq, c.phone or "", sources.get(c.source, ""), statuses.get(c.status, ""),
        names.get(c.consultant_id, pool) if c.consultant_id else pool, c.inquiry_date, c.received_on,
        c.last_follow_up_on, detail_url(c.id),
    ) for c in items]
