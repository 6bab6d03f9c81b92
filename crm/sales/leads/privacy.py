"""Who may see a lead, its records and its contacts (S-11): one rule for every page, payments and imports.

A lead that a consultant holds is theirs alone; directors, the CEO and admins
(sales.lead.view_all) see every lead; a lead in the public pool is open to
everyone who may view the pool. Lists mask the contacts of leads the viewer
may not open.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _

from crm.auth.models import User
from crm.core.errors import Forbidden
from crm.sales import choices
from crm.sales.models import Customer
from crm.sales.pool import expiry

VIEW_ALL = "sales.lead.view_all"
POOL_VIEW = "sales.pool.view"


def sees_all_leads(actor: User) -> bool:
    """Directors, the CEO and admins see every lead."""
    return actor.has_permission(VIEW_ALL)


def holds_or_sees_all(actor: User, customer: Customer) -> bool:
    """The lead's current holder, or someone who sees every lead: the core of S-11."""
    return sees_all_leads(actor) or (customer.consultant_id is not None and customer.consultant_id == actor.id)


def is_in_pool(customer: Customer, today: dt.date) -> bool:
    """Not enrolled and either unassigned or expired as of `today` (S-16)."""
    if customer.status != choices.NOT_ENROLLED:
        return False
    return customer.consultant_id is None or expiry.expiry_of(customer, today).expired


def can_view_lead(actor: User, customer: Customer, *, today: dt.date) -> bool:
    """May `actor` open this lead, its records, history and contact details?

    The holder and those who see all leads may; a lead in the public pool is
    open to everyone who may view the pool; nobody else (S-11).
    """
    if holds_or_sees_all(actor, customer):
        return True
    return actor.has_permission(POOL_VIEW) and is_in_pool(customer, today)


def require_view(actor: User, customer: Customer, *, today: dt.date) -> None:
    """Raise Forbidden unless `actor` may see the lead."""
    if not can_view_lead(actor, customer, today=today):
        raise Forbidden(_("This lead is held by another consultant."))


def can_edit_lead(actor: User, customer: Customer) -> bool:
    """Edit: the holder (with sales.lead.edit), or anyone who also sees all leads."""
    return actor.has_permission("sales.lead.edit") and holds_or_sees_all(actor, customer)


def can_follow_up(actor: User, customer: Customer) -> bool:
    """Follow-up: only the current holder or a director (S-13)."""
    return actor.has_permission("sales.followup") and holds_or_sees_all(actor, customer)


def contact_visible(actor: User, customer: Customer, *, today: dt.date) -> bool:
    """Lists show a lead's QQ, phone and e-mail only to those who may open the lead."""
    return can_view_lead(actor, customer, today=today)


def mask(value: str | None) -> str:
    """Hide most of a contact detail: '12345678' → '12****78'."""
    if not value:
        return ""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def masked_contact(actor: User, customer: Customer, *, today: dt.date) -> dict[str, str]:
    """QQ, phone and e-mail as `actor` may see them in a list (masked when not theirs)."""
    values = {"qq": customer.qq or "", "phone": customer.phone or "", "email": customer.email or ""}
    if contact_visible(actor, customer, today=today):
        return values
    return {key: mask(value) for key, value in values.items()}
