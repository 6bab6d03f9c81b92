"""The students' start-page card: open surveys of their classes they have not answered yet (Q-3)."""
from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from crm.core import clock


def home_panel(user) -> Markup | None:
    """Rendered card listing the open, unanswered surveys of a student's classes, or None."""
    if not getattr(user, "is_authenticated", False) or not user.has_permission("surveys.answer"):
        return None
    from crm.surveys.answering import open_surveys_for

    waiting = [survey for survey, answered in open_surveys_for(user.id, clock.utcnow()) if not answered]
    if not waiting:
        return None
    return Markup(render_template("surveys/_home_panel.html", surveys=waiting))
