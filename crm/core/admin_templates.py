"""Flask-Admin's templates under a CSP without 'unsafe-inline': its inline handlers rewritten."""
from __future__ import annotations

from pathlib import Path

import flask_admin
from jinja2 import BaseLoader, FileSystemLoader, TemplateNotFound

THEME_FOLDER = Path(flask_admin.__file__).resolve().parent / "templates" / "bootstrap4"

# Flask-Admin's inline event handlers (which no CSP with a nonce lets run) and what replaces
# them: data attributes that static/js/shell.js and static/js/admin.js act on. Its inline
# <script> elements carry the request's nonce (Admin(csp_nonce_generator=...)).
HANDLER_REWRITES: dict[str, tuple[tuple[str, str], ...]] = {
    "admin/actions.html": (
        ("onclick=\"return modelActions.execute('{{ p[0] }}');\"", 'data-crm-action="{{ p[0] }}"'),
    ),
    "admin/model/layout.html": (
        ('onclick="return false;"', ""),
    ),
    "admin/model/row_actions.html": (
        ("onclick=\"return faHelpers.safeConfirm('{{ _gettext('Are you sure you want to delete this record?') }}');\"",
         "data-confirm=\"{{ _gettext('Are you sure you want to delete this record?') }}\""),
    ),
    "admin/model/inline_list_base.html": (
        ("onclick=\"faForm.addInlineField(this, '{{ field.id }}');\"", 'data-crm-inline-add="{{ field.id }}"'),
    ),
}


class HandlerFreeAdminTemplates(BaseLoader):
    """Serves Flask-Admin's templates that hold inline handlers, with the handlers rewritten.

    A rewrite that no longer matches (a new Flask-Admin release) raises instead of letting the
    handler through; tests/core/test_no_inline_scripts.py renders every admin page.
    """

    def __init__(self, folder: Path = THEME_FOLDER, rewrites=None):
        self.files = FileSystemLoader(str(folder))
        self.rewrites = HANDLER_REWRITES if rewrites is None else rewrites

    def get_source(self, environment, template):
        rules = self.rewrites.get(template)
        if rules is None:
            raise TemplateNotFound(template)
        source, filename, uptodate = self.files.get_source(environment, template)
        for old, new in rules:
            if old not in source:
                raise RuntimeError(f"{filename} changed: cannot remove its inline handler {old!r}")
            source = source.replace(old, new)
        return source, filename, uptodate
