"""Celery settings (lowercase names) and the beat schedule.

The broker URL and time zone come from the Flask config (REDIS_URL,
CRM_TIMEZONE) in crm.celery_app; everything here is static. The
task modules and the beat schedule come from the areas.
"""
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
# Task modules (`imports`) and the beat schedule are contributed by the areas
# (crm.core.areas.register_tasks / register_beat) when the Flask app is built.
