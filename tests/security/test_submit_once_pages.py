"""Submit once for the forms a page script fills (room grid, survey editor), and concurrently
(real threads) for the Flask-Admin create hook; the template-token mechanism's concurrent case
is tests/sales/test_submit_once.py (payments)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.org.models import School
from crm.rooms.models import Room, RoomBooking
from crm.surveys.models import Survey
from tests.concurrency import run_threads
from tests.factories import login, make_class, make_user

TOKEN = re.compile(r'name="submission_token"[^>]*value="([0-9a-f]{32})"')


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_booking_sent_twice_books_once_and_the_repeat_goes_to_the_result(client):
    user = make_user("staff")
    room = Room(name="Sweep room", capacity=6, active=True)
    db.session.add(room)
    db.session.commit()
    login(client, user)
    day = clock.today() + dt.timedelta(days=9)
    page = client.get(f"/rooms/day?date={day.isoformat()}").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    data = {"origin": "day", "date": day.isoformat(), "next": f"/rooms/day?date={day.isoformat()}",
            "book": f"{room.id}:{day.isoformat()}:15", "repeat_weeks": "1", "submission_token": token}
    first = client.post("/rooms/changes", data=data)
    assert first.status_code == 302, first.get_data(as_text=True)[-500:]
    assert count(RoomBooking, RoomBooking.room_id == room.id) == 1
    again = client.post("/rooms/changes", data=data)
    assert again.status_code == 302 and again.location == first.location
    assert count(RoomBooking, RoomBooking.room_id == room.id) == 1


def test_a_new_survey_sent_twice_is_created_once(client):
    tutor = make_user("tutor")
    klass = make_class(tutor=tutor)
    login(client, tutor)
    token = TOKEN.search(client.get("/surveys/new").get_data(as_text=True)).group(1)
    day = clock.today() + dt.timedelta(days=3)
    data = {"class_id": str(klass.id), "title": "Sweep survey", "opens_at": f"{day.isoformat()}T09:00",
            "closes_at": f"{day.isoformat()}T18:00", "questions-0-position": "1", "questions-0-kind": "score",
            "questions-0-prompt": "How was it?", "submission_token": token}
    first = client.post("/surveys/new", data=data)
    assert first.status_code == 302, first.get_data(as_text=True)[-800:]
    again = client.post("/surveys/new", data=data)
    assert again.status_code == 302
    assert count(Survey, Survey.title == "Sweep survey") == 1


@pytest.mark.committing
def test_simultaneous_saves_of_one_flask_admin_create_form_create_one_row(app, clean_database):
    with app.app_context():
        username = make_user("admin").username
        db.session.commit()
    clients = []
    for _ in range(4):
        client = app.test_client()
        login(client, username)
        clients.append(client)
    with app.app_context():
        token = TOKEN.search(clients[0].get("/org/schools/new/").get_data(as_text=True)).group(1)
    statuses = run_threads(app, len(clients), lambda i: clients[i].post("/org/schools/new/", data={
        "title": "Concurrent campus", "submission_token": token}).status_code)
    with app.app_context():
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(School)
                                 .where(School.title == "Concurrent campus"))
        db.session.remove()
    assert rows == 1
    assert statuses == [302] * 4  # the first to its list, the others to the same place
