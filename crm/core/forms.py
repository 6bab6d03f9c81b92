"""Showing a service's refusal on the form that caused it."""
from __future__ import annotations

from flask import flash

from crm.core.errors import DomainError


def show_domain_error(form, error: DomainError, *, aliases: dict[str, str] | None = None,
                      summary: str | None = None) -> None:
    """Put a service's messages under their form fields; flash those that name no field.

    `error.errors` (several fields at once) or `error.field` name the fields;
    `aliases` maps service field names to form field names; `summary` is
    flashed once when at least one message went under a field.
    """
    errors = getattr(error, "errors", None) or {error.field: error.message}
    placed = False
    for name, message in errors.items():
        field = getattr(form, (aliases or {}).get(name, name), None) if name else None
        if field is not None and hasattr(field, "errors") and not hasattr(field, "entries"):
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.append(message)
            placed = True
        else:
            flash(message, "danger")
    if placed and summary:
        flash(summary, "danger")
