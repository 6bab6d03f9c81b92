"""One guard for every piece of text a request brings (issue 12).

Every query parameter, form field and JSON string passes through `problem()`:
NUL and other control characters (line breaks and tabs are text), lone
surrogates (they cannot be encoded for the database) and values longer than
`MAX_CHARS` are refused before any view or query sees them.

- `guard_request` (before every request): a control character, a lone
  surrogate or an over-long value in the query string answers 400 naming the
  parameter and the reason (nothing is silently dropped: a search for
  "%00<script>" is refused, not run as "<script>"); in a form, surrogates and
  over-long values answer 400, control characters get a message under their
  field from `CrmForm` (crm/core/forms.py).
- `json_problem(document)`: what reads a JSON body (the API) asks it after
  parsing and answers 422 naming the field.
- `strip_control` is a WTForms filter for the few free-text fields whose rule
  is to drop control characters instead of refusing them.
"""
from __future__ import annotations

import re

from flask import abort, request
from flask_babel import gettext as _

# Longer than any text column or free-text field of the product (memos and summaries are <= 5,000).
MAX_CHARS = 20_000

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")


def problem(text: str, *, allow_control: bool = False) -> str | None:
    """Why `text` cannot be accepted, or None."""
    if len(text) > MAX_CHARS:
        return _("This value may have at most %(n)d characters.", n=MAX_CHARS)
    if SURROGATE.search(text):
        return _("Contains characters that cannot be stored.")
    if not allow_control and CONTROL.search(text):
        return _("Contains control characters.")
    return None


def strip_control(value):
    """WTForms filter: drop control characters other than line breaks and tabs."""
    return CONTROL.sub("", value) if isinstance(value, str) else value


def json_problem(value, key: str | None = None) -> tuple[str | None, str] | None:
    """The first (field, reason) of a bad string or key anywhere in a parsed JSON document."""
    if isinstance(value, str):
        reason = problem(value)
        return (key, reason) if reason else None
    if isinstance(value, dict):
        for name, item in value.items():
            reason = problem(name)
            if reason:
                return None, reason
            found = json_problem(item, name)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = json_problem(item, key)
            if found:
                return found
    return None


def guard_request() -> None:
    """Refuse a request whose parameters or form values no field could hold."""
    for name, value in request.args.items(multi=True):
        reason = problem(name) or problem(value)
        if reason:
            shown = CONTROL.sub("?", SURROGATE.sub("?", name))[:60]
            abort(400, description=_("The parameter “%(name)s” of this address cannot be used: %(reason)s",
                                     name=shown, reason=reason))
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        for name, value in request.form.items(multi=True):
            reason = problem(name) or problem(value, allow_control=True)
            if reason:
                abort(400, description=_("A value of this form cannot be used: %(reason)s", reason=reason))


def init_input_guard(app) -> None:
    """Run the guard before every request (before access checks and CSRF)."""
    app.before_request_funcs.setdefault(None, []).insert(0, guard_request)
