"""The Chinese catalogue: complete, consistent with the code, and used by default."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import refresh

from tests.catalogs import compile_catalogs

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "crm" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def load(path: Path):
    """Read a .po/.pot file."""
    with path.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The msgids the code and templates hold now (what `make extract-messages` collects)."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", str(pot), "."],
        cwd=ROOT, check=True, timeout=300,
    )
    return load(pot)


def test_every_message_in_the_code_has_a_chinese_translation(extracted):
    catalogue = load(PO)
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        entry = catalogue.get(message.id, message.context)  # "Received" (a date) ≠ "Received" (a count)
        strings = [] if entry is None else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or not all(strings) or entry.fuzzy:
            untranslated.append(message.id)
    assert untranslated == [], f"run `make extract-messages` and translate: {untranslated[:20]}"


def test_translations_keep_the_placeholders():
    problems = [(message.id, [str(e) for e in errors]) for message, errors in load(PO).check()]
    assert problems == []


def test_chinese_is_the_default_and_english_can_be_chosen(client):
    compile_catalogs()
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page
    assert "登录" in page and "Sign in" not in page

    client.post("/language/en")
    # The rollback fixture keeps one app context (and `g`, where the locale is cached)
    # across requests; a real server starts afresh on every request.
    refresh()
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="en"' in page
    assert "Sign in" in page and "登录" not in page


def test_an_unknown_language_is_ignored(client):
    client.post("/language/xx")
    refresh()
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page
