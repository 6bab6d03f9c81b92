"""E-mail notifications: rows queued in the saving transaction, sent by Celery after commit (S-21)."""
from flask import Flask


def init_app(app: Flask) -> None:
    """The notifications table, the send task and the sweeper for rows whose task never reached the broker."""
    import crm.notifications.models  # noqa: F401
    from crm.core.areas import register_beat, register_tasks, sweep_schedule
    from crm.notifications.views import register_notifications_admin

    register_tasks(app, "crm.notifications.tasks")
    register_notifications_admin(app)
    register_beat(app, "requeue-unsent-email", "crm.notifications.requeue_unsent", sweep_schedule(app))
