"""A page leaves its template context to reference counting, not to the cyclic garbage collector.

A macro module imported "with context" (`{% import 'x.html' as m with context %}`) holds a copy of
the page's whole context, and its macros refer back to the module: a reference cycle. Everything the
page was given (its rows, its page object, the request) then outlives the request until Python's
cyclic collector finds it: about 300 objects per list page that reference counting would have freed
at once (what a collection costs: crm.core.serving). Shared pieces of the layout are included
(`{% include %}`), and macro modules are imported without the context (what they need comes as
arguments or template globals).

Checked on every GET page (tests/test_english_pages.py's walk: each endpoint of the URL map, by
every demo account and signed out; our templates only: Flask-Admin's own list templates import
theirs with context), and on the templates' text.
"""
from __future__ import annotations

import collections
import gc
import re
from pathlib import Path

import jinja2.runtime
import pytest

from tests.test_english_pages import ACCOUNTS, _english_client, seeded_pages

ROOT = Path(__file__).resolve().parents[2]
IMPORT_WITH_CONTEXT = re.compile(r"{%-?\s*(?:import|from)\s[^%]*\bwith\s+context\b", re.S)


def test_no_template_of_ours_imports_macros_with_the_context():
    assert IMPORT_WITH_CONTEXT.search("{% import 'a.html' as a with context %}")
    assert IMPORT_WITH_CONTEXT.search("{% from 'a.html' import b with context %}")
    assert not IMPORT_WITH_CONTEXT.search("{% import 'a.html' as a %}{% include 'b.html' with context %}")
    found = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "crm").rglob("templates/**/*.html"))
             if IMPORT_WITH_CONTEXT.search(path.read_text(encoding="utf-8"))]
    assert found == []


def ours(app, name: str | None) -> bool:
    """Whether a template is one of ours (Flask-Admin's own list templates import theirs with context)."""
    filename = app.jinja_env.get_template(name).filename if name else None
    return bool(filename) and Path(filename).resolve().is_relative_to(ROOT / "crm")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_admin")
def test_no_page_leaves_its_template_context_in_a_reference_cycle(app, tmp_path, monkeypatch):
    from crm.sales import allocation

    seeded, urls = seeded_pages(app, tmp_path, monkeypatch)
    left: dict[str, collections.Counter] = {}
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector frees is kept in gc.garbage, to be looked at
    try:
        for username in (None, *ACCOUNTS):
            client = seeded["clients"].get(username) or _english_client(app, username)
            gc.collect()
            gc.garbage.clear()
            for _endpoint, url in urls:
                assert client.get(url).status_code < 500, (username, url)
            gc.collect()
            contexts = collections.Counter(item.name for item in gc.garbage
                                           if isinstance(item, jinja2.runtime.Context) and ours(app, item.name))
            if contexts:
                left[str(username)] = contexts
            gc.garbage.clear()
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        allocation.reset_state()
    assert left == {}, "\n".join(f"{user}: {dict(names)}" for user, names in left.items())
