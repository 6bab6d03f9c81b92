"""The search box of every lead list (all leads, My customers, the pool, students): one rule, one place.

What is typed decides which index answers (so no OR of a name match and a number match ever
makes PostgreSQL read the whole table):

* digits (spaces, dashes, "+86" allowed): the QQ number and/or the phone number, exact. A value
  that can be both (an 11-digit mobile number is also a valid QQ number) looks up both unique
  indexes and joins the two answers with UNION ALL — never ``qq = x OR phone = x``;
* an "@": the e-mail address, exact, on its unique index (stored lower-case);
* anything else: a name containing the text (a prefix is a special case), case-insensitive.

Names on PostgreSQL use the trigram GIN index ``ix_customers_name_grams`` (migrations
issue15_0001, issue15_0002) over the stored column ``name_grams`` = ``crm_name_grams(lower(name))``:
every character and every pair of neighbouring characters of the name as a word of its own
(``王伟明`` → `` 王 伟 明 王伟 伟明 ``), stored on every insert and update by PostgreSQL itself, so a
search compares stored text and never recomputes them. pg_trgm indexes each such word, so
even a one- or two-character Chinese search (``伟``, ``王伟``) has trigrams to look up —
a plain trigram index on the name has none for a two-character substring and would scan the
table — and a pair's trigram (`` 王伟``) is rare enough to find its few thousand names at once
among a million. A search of one character asks for that character's word, a longer one for
the words of each of its pairs (true for every name containing it), and the name itself then
must contain the search (ILIKE). SQLite (development and tests) has no such index and runs
the plain ``LIKE '%text%'``, which gives the same answers.

Lists stay ordered by their own sort and are paginated with LIMIT (``crm.core.listing``), so a
search reads its matches through the index and stops at the page's end.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from crm.core.errors import DomainError
from crm.sales.leads.fields import QQ_RE, normalise_phone
from crm.sales.models import Customer

DIGITS_RE = re.compile(r"\+?[0-9][0-9\s\-().]*")


# customers.name_grams (PostgreSQL only): crm_name_grams(lower(name)), stored by PostgreSQL as a
# generated column with the GIN index on it (migrations issue15_0001, issue15_0002); not mapped
# on the model (crm.extensions.DATABASE_ONLY).
NAME_GRAMS_COLUMN = sa.literal_column("customers.name_grams", sa.Text())


def grams(text: str) -> list[str]:
    """The words a search for `text` must find in crm_name_grams: its character, or each pair."""
    if len(text) == 1:
        return [text]
    return list(dict.fromkeys(text[i:i + 2] for i in range(len(text) - 1)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_shape(search: str) -> str:
    """'number', 'email' or 'name': which index a search uses (see the module's docstring)."""
    text = search.strip()
    if DIGITS_RE.fullmatch(text) and any(c.isdigit() for c in text):
        return "number"
    if "@" in text:
        return "email"
    return "name"


def search_clause(search: str, *, dialect: str | None = None) -> sa.ColumnElement[bool]:
    """The WHERE clause of the search box for `search` (already stripped and length-capped by the list).

    `dialect` ("postgresql" or "sqlite") picks the name match; by default the current database's.
    """
    text = search.strip()
    shape = search_shape(text)
    if shape == "number":
        return _number_clause(text)
    if shape == "email":
        local, _at, domain = text.rpartition("@")
        return Customer.email.in_(sorted({text, f"{local}@{domain.lower()}", text.lower()}))
    return name_clause(text, dialect=dialect)


def _number_clause(text: str) -> sa.ColumnElement[bool]:
    digits = re.sub(r"[\s\-().]", "", text)
    qq = digits if QQ_RE.fullmatch(digits) else None
    try:
        phone = normalise_phone(text)
    except DomainError:
        phone = None
    if qq is not None and phone is not None:
        # Both unique indexes, one answer each at most: UNION ALL keeps each lookup an index probe.
        either = sa.union_all(sa.select(Customer.id).where(Customer.qq == qq),
                              sa.select(Customer.id).where(Customer.phone == phone))
        return Customer.id.in_(either)
    if qq is not None:
        return Customer.qq == qq
    if phone is not None:
        return Customer.phone == phone
    return sa.false()  # digits that are neither a QQ nor a phone number match no lead


def name_clause(text: str, *, dialect: str | None = None) -> sa.ColumnElement[bool]:
    """Names containing `text`, case-insensitively: through the trigram index on PostgreSQL."""
    if dialect is None:
        from crm.extensions import db

        dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        # The stored words of the lower-cased name (migration issue15_0002); the pattern is
        # lower-cased by PostgreSQL too, so both sides fold case the same way.
        indexed = [NAME_GRAMS_COLUMN.like(sa.func.lower(f"% {_escape_like(gram)} %")) for gram in grams(text)]
        if len(text) > 2:  # the pairs are all there; the name must hold them in this order, together
            indexed.append(Customer.name.ilike("%" + _escape_like(text) + "%"))
        return sa.and_(*indexed)  # backslash is PostgreSQL's default LIKE escape
    return Customer.name.like("%" + _escape_like(text) + "%", escape="\\")
