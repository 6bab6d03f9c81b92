"""Q-5: one day before a survey closes, e-mail the class's students who have not answered, once each.

The daily task takes every shared survey that is open now and closes before the end of
tomorrow (local time), so a survey closing early tomorrow morning or later today is still
reminded. Each e-mail has the dedupe key ``survey-reminder:<survey>:<student>``: a second
run (the next day, a retry, a second beat) queues nothing new for the same student.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.auth.models import User
from crm.core.clock import local_zone, to_local
from crm.extensions import db
from crm.students.models import Enrollment, Student
from crm.students.services import enrolled_on_clause
from crm.surveys.models import Participation, Survey


def reminder_window_end(now: dt.datetime) -> dt.datetime:
    """The end of tomorrow, local time, as an aware datetime."""
    day_after = to_local(now).date() + dt.timedelta(days=2)
    return dt.datetime.combine(day_after, dt.time(0, 0), tzinfo=local_zone())


def surveys_closing_soon(now: dt.datetime) -> list[Survey]:
    """Shared, open surveys that close by the end of tomorrow."""
    return list(db.session.scalars(
        sa.select(Survey)
        .where(Survey.published_at.is_not(None), Survey.opens_at <= now, Survey.closes_at > now,
               Survey.closes_at < reminder_window_end(now))
        .order_by(Survey.id)
    ))


def unanswered_students(survey: Survey, on: dt.date):
    """(student id, user id, name, e-mail, locale) of the class's students with no participation (one query)."""
    answered = (sa.select(Participation.id)
                .where(Participation.survey_id == survey.id, Participation.student_id == Student.id).exists())
    return db.session.execute(
        sa.select(Student.id, User.id, User.name, User.email, User.locale)
        .join(User, User.id == Student.user_id)
        .join(Enrollment, Enrollment.student_id == Student.id)
        .where(enrolled_on_clause(survey.class_id, on), User.active.is_(True), ~answered)
        .distinct()
        .order_by(Student.id)
    ).all()


def send_survey_reminders(now: dt.datetime) -> int:
    """Queue the reminder e-mails due now (flush only); returns how many new ones were queued."""
    from crm.notifications.services import queue_email

    queued = 0
    today = to_local(now).date()
    for survey in surveys_closing_soon(now):
        closes = to_local(survey.closes_at).strftime("%Y-%m-%d %H:%M")
        for student_id, user_id, name, email, locale in unanswered_students(survey, today):
            note = queue_email(
                kind="survey_reminder", recipient_id=user_id, to_address=email,
                subject=_l("Reminder: please answer the survey “%(title)s”", title=survey.title),
                template="surveys_reminder",
                context={"student_name": name, "survey_title": survey.title, "closes_at": closes,
                         # The class itself: its name is put together in the student's language.
                         "class_name": survey.class_list},
                dedupe_key=f"survey-reminder:{survey.id}:{student_id}", locale=locale,
            )
            queued += note is not None
    return queued
