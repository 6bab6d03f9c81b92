"""Templates pass only string literals to the translation functions (issue 12).

A translated string is marked safe by Jinja, so `_(user_text)` would show
stored HTML unescaped. This test reads every template of every area.
"""
from __future__ import annotations

import re
from pathlib import Path

CRM = Path(__file__).resolve().parents[2] / "crm"
CALL = re.compile(r"(?<![\w.])(_|gettext|ngettext|pgettext|npgettext|lazy_gettext)\(")
LITERAL = re.compile(r"""\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*""", re.S)
TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
LITERAL_ARGS = {"_": 1, "gettext": 1, "lazy_gettext": 1, "ngettext": 2, "pgettext": 2, "npgettext": 3}


def bad_calls(text: str) -> list[str]:
    """Every translation call in the template's tags whose leading arguments are not plain literals."""
    found = []
    for tag in TAG.finditer(text):
        code = tag.group(0)
        for call in CALL.finditer(code):
            pos = call.end()
            ok = True
            for index in range(LITERAL_ARGS[call.group(1)]):
                literal = LITERAL.match(code, pos)
                if not literal:
                    ok = False
                    break
                pos = literal.end()
                expected = ")" if index == LITERAL_ARGS[call.group(1)] - 1 else ","
                if code[pos:pos + 1] not in (expected, ","):
                    ok = False
                    break
                pos += 1
            if not ok:
                found.append(code[call.start():call.start() + 60])
    return found


def templates() -> list[Path]:
    return sorted(CRM.glob("**/templates/**/*.html"))


def test_the_check_catches_non_literal_arguments():
    assert bad_calls("{{ _(role.title) }}")
    assert bad_calls("{{ gettext(x) }}")
    assert bad_calls("{% set t = _('a' ~ name) %}")
    assert bad_calls("{{ _('a') ~ _(b) }}")
    assert bad_calls("{{ ngettext('one', plural, n) }}")
    assert not bad_calls("{{ _('Save') }} {{ _(\"It's %(n)s\", n=user.name) }}")
    assert not bad_calls("{{ ngettext('%(num)d row', '%(num)d rows', n) }} {{ obj.get_(x) }}")


def test_every_template_translates_only_literals():
    paths = templates()
    assert len(paths) > 50
    offenders = {str(p.relative_to(CRM)): calls for p in paths if (calls := bad_calls(p.read_text("utf-8")))}
    assert offenders == {}


def test_bound_gettext_formats_like_jinjas_newstyle_gettext(app):
    """`_()` in a page: %-formatting always applied (so "%%" is "%"), arguments escaped, plain text unchanged."""
    from flask import render_template_string
    from flask_babel import force_locale

    with app.test_request_context("/"), force_locale("en"):
        html = render_template_string(
            "{{ _('Plain') }}|{{ _('100%% sure') }}|{{ _('%(n)s days left', n=x) }}|{{ _('Plain') ~ x }}", x="<b>")
    assert html == "Plain|100% sure|&lt;b&gt; days left|Plain&lt;b&gt;"
