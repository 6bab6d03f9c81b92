"""The search box of every lead list (all leads, My customers, the pool): one rule, one place."""
from __future__ import annotations

import sqlalchemy as sa

from crm.sales.models import Customer


def search_clause(search: str) -> sa.ColumnElement[bool]:
    """One search box for every lead list: names by prefix; QQ, phone and e-mail exactly (unique indexes)."""
    text = search.strip()
    digits = text.replace(" ", "")
    conditions = [Customer.name.like(_like_prefix(text), escape="\\")]
    if digits.isdigit():
        conditions += [Customer.qq == digits, Customer.phone == digits]
    if "@" in text:
        local, _at, domain = text.rpartition("@")
        conditions.append(Customer.email.in_({text, f"{local}@{domain.lower()}"}))
    return sa.or_(*conditions)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
