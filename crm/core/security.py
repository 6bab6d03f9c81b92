"""Security headers on every response, and the per-request script nonce (issue 12).

Scripts run from files only: `script-src 'self'` on every page, the product's and
Flask-Admin's alike, never 'unsafe-inline'. A template that must write a script
element gives it `nonce="{{ csp_nonce() }}"` (Flask-Admin does so for each of its
script tags through `Admin(csp_nonce_generator=csp_nonce)`); the nonce is made once
per request and named in that response's policy only when something used it.
Inline event handlers (`onclick=` …) can never run: Flask-Admin's few are rewritten
into data attributes when its templates load (crm/core/admin.py).
"""
from __future__ import annotations

import secrets

from flask import Flask, has_request_context, request

# Kept in the WSGI environ, which belongs to one request (tests reuse one app context, and `g`, for many).
NONCE_KEY = "crm.csp_nonce"


def csp_nonce() -> str:
    """This request's script nonce (made on first use)."""
    if not has_request_context():
        return ""
    nonce = request.environ.get(NONCE_KEY)
    if nonce is None:
        nonce = request.environ[NONCE_KEY] = secrets.token_urlsafe(18)
    return nonce


def script_sources() -> str:
    """The script-src list of this response: files from our origin, plus this request's nonce if used."""
    nonce = request.environ.get(NONCE_KEY) if has_request_context() else None
    return f"'self' 'nonce-{nonce}'" if nonce else "'self'"


def content_security_policy() -> str:
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src {script_sources()}; frame-ancestors 'self'; form-action 'self'"
    )


def init_security_headers(app: Flask) -> None:
    """Security headers on every response; `csp_nonce()` for templates."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def set_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html" and _signed_in():
            # A signed-in page holds someone's data: no browser or proxy may keep a copy.
            response.headers["Cache-Control"] = "no-store"
        return response


def _signed_in() -> bool:
    from flask_login import current_user

    # is_anonymous needs no database: after a commit the user's row is expired, and reading
    # is_authenticated (the `active` column) would load it again just for this header.
    return has_request_context() and bool(current_user) and not current_user.is_anonymous
