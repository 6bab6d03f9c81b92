"""Reminders (Q-5): one day before close, students who have not answered, once each."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.notifications.models import Notification
from crm.surveys import reminders
from crm.surveys.tasks import remind_unanswered
from tests.factories import make_student
from tests.surveys.helpers import answer, make_survey, make_tutored_class


def reminders_queued():
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.kind == "survey_reminder").order_by(Notification.id)))


def local_noon(days: int = 0) -> dt.datetime:
    """Noon local time, `days` from today, as UTC."""
    day = clock.today() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=clock.local_zone()).astimezone(dt.timezone.utc)


def closing_tomorrow_class():
    tutor, klass, _ = make_tutored_class(0)
    students = [make_student(klass, email=f"s{i}-{klass.id}@mail.example") for i in range(3)]
    at = local_noon() - dt.timedelta(days=3)
    survey = make_survey(tutor, klass, at=at, opens=dt.timedelta(0),
                         closes=local_noon(1) - at)  # closes tomorrow at noon
    return survey, students


def test_the_task_reminds_each_student_who_has_not_answered_once(monkeypatch):
    survey, (answered, waiting, also_waiting) = closing_tomorrow_class()
    answer(answered, survey, at=local_noon() - dt.timedelta(hours=1))
    no_mail = make_student(survey.class_list)  # no e-mail address: nothing to send
    assert no_mail.user.email is None
    sent = []
    monkeypatch.setattr("crm.notifications.tasks.dispatch", lambda ids: sent.extend(ids))
    run_at = (local_noon() - dt.timedelta(hours=3)).isoformat()
    assert remind_unanswered(run_at) == 2
    rows = reminders_queued()
    assert sorted(r.to_address for r in rows) == sorted([waiting.user.email, also_waiting.user.email])
    assert {r.recipient_id for r in rows} == {waiting.user_id, also_waiting.user_id}
    assert rows[0].subject == f"提醒：请填写问卷“{survey.title}”"  # in the student's (default) language
    assert survey.title in rows[0].body_text and survey.title in rows[0].body_html
    assert sorted(sent) == sorted(r.id for r in rows)  # handed to delivery after the commit
    # A second run (the next day, a retry) queues nothing new.
    assert remind_unanswered((local_noon() + dt.timedelta(hours=1)).isoformat()) == 0
    assert len(reminders_queued()) == 2


def test_the_reminder_names_the_class_in_the_students_language(monkeypatch):
    monkeypatch.setattr("crm.notifications.tasks.dispatch", lambda ids: None)
    survey, (chinese, english, _other) = closing_tomorrow_class()
    english.user.locale = "en"
    db.session.flush()
    reminders.send_survey_reminders(local_noon() - dt.timedelta(hours=3))
    by_address = {r.to_address: r for r in reminders_queued()}
    course, n = survey.class_list.course.name, survey.class_list.semester
    assert f"{course} (cohort {n})" in by_address[english.user.email].body_text
    assert f"{course} ({n}期)" in by_address[chinese.user.email].body_text


def test_only_surveys_closing_by_tomorrow_are_reminded(monkeypatch):
    monkeypatch.setattr("crm.notifications.tasks.dispatch", lambda ids: None)
    tutor, klass, _ = make_tutored_class(0)
    make_student(klass, email=f"far-{klass.id}@mail.example")
    at = local_noon() - dt.timedelta(days=1)
    make_survey(tutor, klass, at=at, opens=dt.timedelta(0), closes=local_noon(3) - at)  # in three days
    make_survey(tutor, klass, at=at, opens=dt.timedelta(0), closes=local_noon(-1) - at + dt.timedelta(hours=30),
                publish=False)  # a draft
    assert reminders.send_survey_reminders(local_noon()) == 0
    assert reminders_queued() == []


@pytest.mark.committing
def test_reminders_arrive_by_smtp_through_a_real_worker(app, clean_database, smtp_server, celery_worker):
    with app.app_context():
        survey, students = closing_tomorrow_class()
        addresses = sorted(s.user.email for s in students)
        title = survey.title
        db.session.commit()  # end this session's read transaction: the task runs in a session of its own
        assert remind_unanswered((local_noon() - dt.timedelta(hours=3)).isoformat()) == 3
        messages = smtp_server.wait_for(3)
        assert sorted(m.rcpt_tos[0] for m in messages) == addresses
        assert all(title in str(m.message["Subject"]) for m in messages)
        deadline = time.monotonic() + 20  # let the worker record the deliveries before writing again
        while time.monotonic() < deadline:
            db.session.remove()
            if db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.status == "sent")) == 3:
                break
            time.sleep(0.1)
        db.session.remove()
        assert remind_unanswered((local_noon() - dt.timedelta(hours=2)).isoformat()) == 0
        db.session.remove()


def test_the_reminder_runs_once_a_day_from_the_beat_schedule(app):
    from crm.core.areas import beat_schedule, task_modules

    entry = beat_schedule(app)["remind-unanswered-surveys"]
    assert entry["task"] == "crm.surveys.remind_unanswered" == remind_unanswered.name
    assert entry["schedule"].hour == {app.config["CRM_SURVEY_REMINDER_HOUR"]} and entry["schedule"].minute == {0}
    assert "crm.surveys.tasks" in task_modules(app)
