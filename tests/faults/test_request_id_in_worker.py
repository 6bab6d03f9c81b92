"""16.6: the request id of a web request reaches the worker's log lines of the e-mail task it queued,
through the first attempt and its retry (a real worker process, JSON logs, a real SMTP server)."""
from __future__ import annotations

import json

import pytest

from crm.api import services
from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales.models import SaleRank
from tests.factories import make_user
from tests.faults.test_email_faults import WorkerProcess, statuses, wait_for, worker_env


@pytest.mark.committing
def test_the_send_task_logs_with_the_id_of_the_request_that_queued_it(app, build_app, clean_database, smtp_server,
                                                                       private_redis, database_url, redis_prefix,
                                                                       tmp_path):
    smtp_server.handler.refuse_with = "451 4.3.0 try again later"  # the first attempt fails: a retry follows
    other = build_app(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    worker = WorkerProcess(tmp_path / "worker.log", CRM_LOG_FORMAT="json",
                           **worker_env(database_url, private_redis.url, smtp_server.port, redis_prefix,
                                        CRM_MAIL_RETRY_BASE_SECONDS="1", CRM_MAIL_RETRY_MAX_SECONDS="1"))
    try:
        with other.app_context():
            holder = make_user("consultant", name="钱顾问", email="qian@example.com")
            db.session.add(SaleRank(user_id=holder.id, weight=5, num=1))
            _token, clear = services.create_token(None, name="官网", rate_per_minute=100)
            db.session.commit()
            response = other.test_client().post(
                "/api/v1/leads", data=json.dumps({"qq": "6660001", "name": "周八", "gender": 1}),
                headers={"Authorization": f"Bearer {clear}", "X-Request-ID": "website-req-42"},
                content_type="application/json")
            assert response.status_code == 201 and response.get_json()["assigned"] is True
            assert response.headers["X-Request-ID"] == "website-req-42"
            [notification_id] = db.session.scalars(db.select(Notification.id))
            db.session.rollback()

            def log_lines() -> list[dict]:
                return [json.loads(raw) for raw in worker.output().splitlines() if raw.startswith("{")]

            def lines_about(what: str) -> list[dict]:
                start = f"notification {notification_id} {what}"
                return [line for line in log_lines() if line["message"].startswith(start)]

            wait_for(lambda: lines_about("not sent"), 30, what="the first, refused attempt")
            smtp_server.handler.refuse_with = None
            wait_for(lambda: statuses([notification_id])["sent"] == 1, 30, what="the retry sent the e-mail")
            [sent] = wait_for(lambda: lines_about("sent"), 10, what="the worker's line for the sent e-mail")
        for line in [*lines_about("not sent"), sent]:
            assert line["request_id"] == "website-req-42", line
            assert line["task_id"] and line["task_id"] != "website-req-42"
        assert len(smtp_server.messages) == 1
    finally:
        worker.stop()
