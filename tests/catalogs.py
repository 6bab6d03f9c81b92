"""Compile the translation catalogues for tests run without `make` (same as `make catalogs`)."""
from __future__ import annotations

import os
from pathlib import Path

TRANSLATIONS = Path(__file__).resolve().parent.parent / "crm" / "translations"


def compile_catalogs() -> None:
    """Compile each messages.po whose .mo is missing or older."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parts[-3])
        # Write then rename: parallel test sessions may compile at the same moment.
        partial = mo_path.with_name(f"messages.mo.{os.getpid()}")
        with partial.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=True)
        os.replace(partial, mo_path)
