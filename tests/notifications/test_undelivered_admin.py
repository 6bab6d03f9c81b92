"""16.2: the admin sees failed and unknown e-mail and sends it again; others may not."""
from __future__ import annotations

import pytest

from crm.core.errors import Conflict
from crm.extensions import db
from crm.notifications import services, tasks
from crm.notifications.models import Notification
from tests.factories import login, make_user
from tests.notifications.test_email import queue


@pytest.fixture
def dispatched(monkeypatch):
    ids = []
    monkeypatch.setattr(tasks, "dispatch", lambda new: ids.extend(new))
    return ids


def test_admin_sees_failed_and_unknown_mail_and_sends_it_again(app, client, dispatched):
    failed, unknown, sent = queue(to_address="failed@example.com"), queue(to_address="lost@example.com"), queue()
    failed.status, failed.last_error = "failed", "ConnectionRefusedError: nobody listens"
    unknown.status, sent.status = "unknown", "sent"
    db.session.commit()
    login(client, make_user("admin"))
    page = client.get("/admin/notifications/").get_data(as_text=True)
    assert "failed@example.com" in page and "lost@example.com" in page and "ConnectionRefusedError" in page
    assert f'data-notification-id="{sent.id}"' not in page
    dispatched.clear()
    response = client.post(f"/admin/notifications/{failed.id}/resend")
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(Notification, failed.id)
    assert row.status == "queued" and dispatched == [failed.id]
    # A second click finds it queued already: refused, nothing handed over twice.
    client.post(f"/admin/notifications/{failed.id}/resend")
    assert dispatched == [failed.id]


def test_a_mail_whose_password_was_removed_cannot_be_resent(app):
    notification = queue()
    notification.status, notification.body_text = "failed", tasks.REDACTED_BODY
    db.session.commit()
    with pytest.raises(Conflict):
        services.resend(None, notification.id)


def test_others_may_not_open_the_page(app, client):
    login(client, make_user("consultant"))
    assert client.get("/admin/notifications/").status_code == 403
