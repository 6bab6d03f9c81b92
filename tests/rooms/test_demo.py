"""seed-demo's rooms part: four rooms, bookings of demo users from yesterday into the coming days."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crm.auth.models import User
from crm.core import clock
from crm.demo import seed_demo
from crm.extensions import db
from crm.rooms.models import Room, RoomBooking
from tests.factories import login


def test_seed_demo_adds_rooms_and_bookings(client):
    assert seed_demo(password="demo-pass-1") is True
    today = clock.today()
    assert db.session.scalar(sa.select(sa.func.count(Room.id))) == 4
    days = set(db.session.scalars(sa.select(RoomBooking.booked_on).distinct()))
    assert today + dt.timedelta(days=1) in days and today + dt.timedelta(days=5) in days
    assert any(day < today for day in days)
    holders = set(db.session.scalars(sa.select(User.username).join(RoomBooking, RoomBooking.user_id == User.id)))
    assert {"sales1", "tutor1", "teacher1", "staff1", "director"} <= holders
    db.session.commit()
    login(client, "staff1", "demo-pass-1")
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    page = client.get(f"/rooms/?date={tomorrow}").get_data(as_text=True)
    assert "301 会议室" in page and "赵班主任" in page and 'data-state="mine"' in page
