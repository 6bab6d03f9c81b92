"""Showing a service's refusal on the form that caused it."""
from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from crm.core.errors import DomainError
from crm.core.input_guard import problem


class CrmForm(FlaskForm):
    """Base of every form: text with control characters, lone surrogates or past the length
    limit gets a message under its field before any other check (or query) sees it."""

    # True on a form whose services clean and explain control characters themselves.
    allow_control = False

    def validate(self, extra_validators=None) -> bool:
        bad = {}
        for field in self:
            data = field.data
            texts = [data] if isinstance(data, str) else [x for x in data if isinstance(x, str)] \
                if isinstance(data, (list, tuple)) else []
            for text in texts:
                reason = problem(text, allow_control=self.allow_control)
                if reason:
                    bad[field.name] = reason
                    break
        if not bad:
            return super().validate(extra_validators)
        for field in self:
            field.errors = [bad[field.name]] if field.name in bad else []
        self._errors = None
        return False


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
