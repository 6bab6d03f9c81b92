"""listing.records: a result's rows as named tuples (same values, same order, read by name)."""
from __future__ import annotations

import sqlalchemy as sa

from crm.core import listing
from crm.extensions import db


def test_records_keep_every_value_in_order_and_are_read_by_name(app):
    with app.app_context():
        statement = sa.select(sa.literal(7).label("id"), sa.literal("王伟").label("name"),
                              sa.literal(None, sa.Integer).label("consultant_id"))
        rows = db.session.execute(statement).all()
        [record] = listing.records(db.session.execute(statement))
        assert tuple(record) == tuple(rows[0]) == (7, "王伟", None)
        assert (record.id, record.name, record.consultant_id) == (7, "王伟", None)
        assert record._fields == ("id", "name", "consultant_id") and not isinstance(record, sa.Row)
        assert listing.records(db.session.execute(statement.where(sa.false()))) == []
        db.session.rollback()


def test_records_of_columns_with_the_same_name_keep_them_all(app):
    with app.app_context():
        statement = sa.select(sa.literal(1).label("id"), sa.literal(2).label("id"), sa.literal(3).label("class"))
        [record] = listing.records(db.session.execute(statement))
        assert tuple(record) == (1, 2, 3) and record.id == 1  # the repeated and the reserved names are renamed
        db.session.rollback()
