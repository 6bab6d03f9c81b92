"""Attendance and grade codes (T-2) and the rule that attendance drives grades (T-6).

A grade is stored as a code plus a nullable numeric score. N/A, COPY and FAIL
have no score, so they never enter averages or charts as numbers; a record
nobody graded yet has neither code nor score.

T-6 in words: noshow gives D (0) unless the teacher chose COPY or FAIL;
vacate gives N/A; when attendance changes back, a grade that only the old
status gave (D from noshow, N/A from vacate) is cleared again. The SQL
twin (:func:`grade_after_attendance_sql`) and the Python twin
(:func:`grade_after_attendance`) say the same thing; tests hold them together.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

CHECKED, VACATE, LATE, NOSHOW, LEAVE_EARLY = "checked", "vacate", "late", "noshow", "leave_early"

ATTENDANCE = {
    CHECKED: _l("Present"),
    VACATE: _l("Excused"),
    LATE: _l("Late"),
    NOSHOW: _l("Absent"),
    LEAVE_EARLY: _l("Left early"),
}

# code -> numeric score (None: not a number; never averaged or charted as one)
GRADES: dict[str, int | None] = {
    "A+": 100, "A": 90, "B+": 85, "B": 80, "B-": 70, "C+": 60, "C": 50, "C-": 40, "D": 0,
    "N/A": None, "COPY": None, "FAIL": None,
}
NUMERIC_GRADES = tuple(code for code, score in GRADES.items() if score is not None)
LABEL_GRADES = tuple(code for code, score in GRADES.items() if score is None)

NOSHOW_GRADE, VACATE_GRADE = "D", "N/A"
# Grades a teacher may keep for an absent student instead of the automatic D.
NOSHOW_KEEPS = ("COPY", "FAIL")
# What each status allows in score entry (None: any grade).
ALLOWED_FOR_STATUS: dict[str, tuple[str, ...] | None] = {
    NOSHOW: ("D", *NOSHOW_KEEPS),
    VACATE: (VACATE_GRADE,),
}


def score_of(grade: str | None) -> int | None:
    """The numeric score of a grade code (None for N/A, COPY, FAIL and no grade)."""
    return GRADES.get(grade) if grade else None


def grade_after_attendance(old_status: str, new_status: str, grade: str | None) -> str | None:
    """T-6, Python twin: the grade a record has after its attendance changes from old to new."""
    if new_status == NOSHOW:
        return grade if grade in NOSHOW_KEEPS else NOSHOW_GRADE
    if new_status == VACATE:
        return VACATE_GRADE
    if old_status == NOSHOW and grade == NOSHOW_GRADE:
        return None
    if old_status == VACATE and grade == VACATE_GRADE:
        return None
    return grade


def grade_after_attendance_sql(attendance_col, grade_col, new_status: str):
    """T-6, SQL twin: the grade column's new value in a set-based UPDATE to `new_status`."""
    if new_status == NOSHOW:
        return sa.case((grade_col.in_(NOSHOW_KEEPS), grade_col), else_=sa.literal(NOSHOW_GRADE))
    if new_status == VACATE:
        return sa.literal(VACATE_GRADE)
    return sa.case(
        (sa.and_(attendance_col == NOSHOW, grade_col == NOSHOW_GRADE), sa.null()),
        (sa.and_(attendance_col == VACATE, grade_col == VACATE_GRADE), sa.null()),
        else_=grade_col,
    )


def score_sql(grade_expr):
    """The numeric score of a grade expression, in SQL (NULL for label grades)."""
    return sa.case(*[(grade_expr == code, GRADES[code]) for code in NUMERIC_GRADES], else_=sa.null())
