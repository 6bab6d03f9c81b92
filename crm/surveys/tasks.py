"""Celery beat task: the daily survey reminder (Q-5)."""
from __future__ import annotations

import datetime as dt

from celery import shared_task

from crm.core import clock, uow


@shared_task(name="crm.surveys.remind_unanswered", autoretry_for=(ConnectionError,),
             retry_backoff=True, retry_kwargs={"max_retries": 3})
def remind_unanswered(now: str | None = None) -> int:
    """E-mail students who have not answered a survey closing by tomorrow (once each); `now` ISO for reruns."""
    from crm.surveys.reminders import send_survey_reminders

    moment = dt.datetime.fromisoformat(now) if now else clock.utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    queued = send_survey_reminders(moment)
    uow.commit()
    return queued
