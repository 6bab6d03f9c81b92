"""crm.core.listing.option_list: a select box's options, kept per (rows, chosen)."""
from __future__ import annotations

from markupsafe import Markup

from crm.core.listing import option_list


def test_labels_and_values_are_escaped_and_the_chosen_one_selected():
    html = option_list([(1, "王伟"), (2, '<script>alert("x")</script>'), ("a&b", "A & B")], 2)
    assert isinstance(html, Markup)
    assert html == ('<option value="1">王伟</option>'
                    '<option value="2" selected>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</option>'
                    '<option value="a&amp;b">A &amp; B</option>')


def test_nothing_chosen_and_no_rows():
    assert option_list([(1, "A")]) == '<option value="1">A</option>'
    assert option_list([], 3) == ""


def test_new_rows_are_a_new_rendering_not_the_kept_one():
    before = option_list([(1, "Python 入门")], 1)
    after = option_list([(1, "Python 进阶")], 1)  # the course renamed
    assert "入门" in before and "进阶" in after and "入门" not in after
    assert option_list([(1, "A"), (2, "B")], 1) != option_list([(1, "A"), (2, "B")], 2)


def test_rows_from_the_database_are_accepted(app):
    import sqlalchemy as sa

    from crm.extensions import db

    with app.app_context():
        rows = db.session.execute(sa.select(sa.literal(5).label("id"), sa.literal("五").label("name"))).all()
    assert option_list(rows, 5) == '<option value="5" selected>五</option>'
