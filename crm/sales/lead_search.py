"""The search box of every lead list (all leads, My customers, the pool): one rule, one place."""
from __future__ import annotations

import sqlalchemy as sa

from crm.sales.models import Customer


def search_clause(search: str) -> sa.ColumnElement[bool]:
    """One search box for every lead list: QQ or phone when it is digits, the e-mail when it has an "@"
    (exact, on unique indexes), else a name by prefix.

    Digits and addresses skip the name match: an OR with an unindexed LIKE would scan the table.
    """
    text = search.strip()
    digits = text.replace(" ", "").replace("-", "")
    if digits.isdigit():
        return sa.or_(Customer.qq == digits, Customer.phone == digits)
    if "@" in text:
        local, _at, domain = text.rpartition("@")
        return Customer.email.in_(sorted({text, f"{local}@{domain.lower()}"}))
    return Customer.name.like(_like_prefix(text), escape="\\")


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
