"""Absolute links for e-mails, also outside a request (worker, nightly jobs, CLI): CRM_PUBLIC_URL."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` under CRM_PUBLIC_URL (query arguments from extra values)."""
    base = urlsplit(current_app.config["CRM_PUBLIC_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)
