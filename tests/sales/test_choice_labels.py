"""The template's choice_label (resolved once per rendering) says what choices.label says, in both languages."""
from __future__ import annotations

import pytest
from flask_babel import force_locale

from crm.sales import choices


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_choice_label_matches_label_for_every_table_and_code(app, locale):
    tables = [t for t in vars(choices).values() if isinstance(t, dict) and id(t) in choices._ENGLISH]
    assert len(tables) >= 10
    with app.test_request_context("/"), force_locale(locale):
        choice_label = choices.template_helpers()["choice_label"]
        for table in tables:
            name = next(k for k, v in vars(choices).items() if v is table)
            for code in [*table, None, 999, "x"]:
                expected = choices.label(table, code, "—")
                assert choice_label(table, code, "—") == expected == choice_label(name, code, "—"), (name, code)
        if locale == "en":
            assert choice_label(choices.GENDER, 1) == "male" and choice_label("GENDER", 2) == "female"
        else:
            assert choice_label(choices.GENDER, 1) == "男"
