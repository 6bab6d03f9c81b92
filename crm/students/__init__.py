"""Students and enrolments: the shared entities that sales creates and teaching and surveys use."""
from flask import Flask


def init_app(app: Flask) -> None:
    """Register the student tables (no pages of its own yet: the student record lives with sales)."""
    import crm.students.models  # noqa: F401
