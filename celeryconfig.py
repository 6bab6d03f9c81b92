"""Celery settings (lowercase names) and the beat schedule.

The broker URL and time zone come from the Flask config (REDIS_URL,
CRM_TIMEZONE) in crm.celery_app; everything here is static.
"""
from celery.schedules import crontab  # noqa: F401  (used by later schedule entries)

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
# A task is acknowledged only when it finished, so a killed worker's task is redelivered.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
broker_connection_retry_on_startup = True
broker_transport_options = {"visibility_timeout": 3600}
enable_utc = True
imports = ("crm.sales.reclaim_tasks", "crm.sales.import_tasks", "crm.notifications.tasks")

# Periodic jobs; names are explicit so they never change with a refactor.
beat_schedule: dict = {
    # S-15: local time (the Celery app's timezone is CRM_TIMEZONE).
    "reclaim-expired-leads": {"task": "crm.sales.reclaim_expired_leads", "schedule": crontab(hour=0, minute=5)},
    "remind-expiring-leads": {"task": "crm.sales.remind_expiring_leads", "schedule": crontab(hour=9, minute=0)},
    # S-21: e-mail rows whose send task never reached the broker (it was down at commit time).
    "requeue-unsent-email": {"task": "crm.notifications.requeue_unsent", "schedule": crontab(minute="*/10")},
}
