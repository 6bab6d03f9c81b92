"""The search box of every lead list (all leads, My customers, the pool, students): one rule, one place.

What is typed decides which index answers (so no OR of a name match and a number match ever
makes PostgreSQL read the whole table):

* digits (spaces, dashes, "+86" allowed): the QQ number and/or the phone number, exact. A value
  that can be both (an 11-digit mobile number is also a valid QQ number) looks up both unique
  indexes and joins the two answers with UNION ALL — never ``qq = x OR phone = x``;
* an "@": the e-mail address, exact, on its unique index (stored lower-case);
* anything else: a name containing the text (a prefix is a special case), case-insensitive.

Names on PostgreSQL are words: the stored column ``name_grams`` = ``crm_name_grams(lower(name))``
holds every character and every pair of neighbouring characters of the name as a word of its
own (``王伟明`` → `` 王 伟 明 王伟 伟明 ``), and the table ``customer_name_words`` holds one row
(word, customer_id) per distinct word of each lead, in a btree by word then lead (migration
issue15_0003; triggers keep it on every insert, rename and delete). So even a one- or
two-character Chinese search (``伟``, ``王伟``) is an exact index lookup, and the leads under a
word come in id order: the all-leads list's newest-first page is the last 51 entries under the
word and 51 primary-key lookups, however common the name (3,571 王伟 among a million). A search
of one character asks for that character's word, a longer one for the words of each of its
pairs (true for every name containing it), and the name itself then must contain the search
(ILIKE). SQLite (development and tests) has no such table and runs the plain
``LIKE '%text%'``, which gives the same answers.

Lists stay ordered by their own sort and are paginated with LIMIT (``crm.core.listing``), so a
search reads its matches through the index and stops at the page's end when the list's order
allows.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from crm.core.errors import DomainError
from crm.sales.leads.fields import QQ_RE, normalise_phone
from crm.sales.models import Customer

DIGITS_RE = re.compile(r"\+?[0-9][0-9\s\-().]*")


# customer_name_words (PostgreSQL only): (word, customer_id) for each distinct word of each lead's
# name_grams, in a btree by word then lead, kept by triggers on customers (migration issue15_0003);
# not in the models (crm.extensions.DATABASE_ONLY).
NAME_WORDS = sa.table("customer_name_words", sa.column("word", sa.Text()), sa.column("customer_id", sa.Integer()))


def search_words(text: str) -> tuple[list[str], bool]:
    """The words (of crm_name_grams) every name containing `text` has, and whether they say enough.

    Its character, or each of its pairs. A pair with a space is no word (the words are kept
    apart by spaces): such pairs are left out, and when none is left, the characters stand in.
    The words say enough when they are the whole text (one character, or the one pair of a
    two-character text); otherwise the name itself must also contain the text.
    """
    if len(text) == 1:
        return [text], True
    pairs = [pair for pair in dict.fromkeys(text[i:i + 2] for i in range(len(text) - 1)) if " " not in pair]
    if pairs:
        return pairs, len(text) == 2
    return list(dict.fromkeys(char for char in text if char != " ")), False


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
    """Names containing `text`, case-insensitively: through the words table on PostgreSQL."""
    if dialect is None:
        from crm.extensions import db

        dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        # The leads with each word of the search, from the words of their lower-cased names (migration
        # issue15_0003); the search's words are lower-cased by PostgreSQL too, so both fold case alike.
        words, enough = search_words(text)
        indexed = [Customer.id.in_(sa.select(NAME_WORDS.c.customer_id).where(NAME_WORDS.c.word == sa.func.lower(word)))
                   for word in words]
        if not enough:  # the words are all there; the name must hold them in this order, together
            indexed.append(Customer.name.ilike("%" + _escape_like(text) + "%"))  # \\ is PostgreSQL's LIKE escape
        return sa.and_(*indexed)
    return Customer.name.like("%" + _escape_like(text) + "%", escape="\\")
