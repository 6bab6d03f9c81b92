"""Class surveys (Q-1 … Q-5): editor, once-only answering, anonymous mode, results, reminders."""
from celery.schedules import crontab
from flask import Blueprint, Flask

bp = Blueprint("surveys", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Survey pages under /surveys, their menu, the students' home panel, the reminder task and demo data."""
    import crm.surveys.models  # noqa: F401
    from crm.core.areas import register_beat, register_home, register_seeder, register_tasks
    from crm.surveys import answer_views, views  # noqa: F401 - register the routes on bp
    from crm.surveys.demo import seed_surveys
    from crm.surveys.panel import home_panel

    app.register_blueprint(bp, url_prefix="/surveys")
    views.register_surveys_menu(app)
    register_home(app, panel=home_panel, order=50)
    register_tasks(app, "crm.surveys.tasks")
    # once a day, local time (the Celery app's timezone is CRM_TIMEZONE).
    register_beat(app, "remind-unanswered-surveys", "crm.surveys.remind_unanswered",
                  crontab(hour=app.config["CRM_SURVEY_REMINDER_HOUR"], minute=0))
    register_seeder(app, "surveys", 60, seed_surveys)
