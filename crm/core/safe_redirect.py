"""Redirect targets that stay on this site."""
from __future__ import annotations

from urllib.parse import urlsplit


def is_local_path(target: str | None) -> bool:
    """True only for a plain local path like '/sales/mine?page=2'."""
    if not target or not isinstance(target, str):
        return False
    if any(c in target for c in "\\\r\n\t") or not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
