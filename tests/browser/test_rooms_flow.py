"""Browser: A books three cells with clicks and one save, cancels one;
B sees two taken with A's name and cannot pick them."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.rooms.models import Room, RoomBooking
from tests.browser.conftest import sign_in, sign_out


def room_id(app, name: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Room.id).where(Room.name == name))
        db.session.remove()
        return found


def holders(app, room: int, day: dt.date) -> dict[int, str]:
    from crm.auth.models import User

    with app.app_context():
        rows = db.session.execute(sa.select(RoomBooking.slot, User.username).join(User)
                                  .where(RoomBooking.room_id == room, RoomBooking.booked_on == day)).all()
        db.session.remove()
    return dict(rows)


def test_book_three_cancel_one_other_user_sees_two_taken(page, live_server, artifacts_dir):
    app = live_server.app
    day = clock.today() + dt.timedelta(days=20)  # no demo bookings, every slot in the future
    room = room_id(app, "302 会议室")
    cells = [f"{room}:{day.isoformat()}:{slot}" for slot in (14, 15, 16)]

    sign_in(page, live_server, "staff1")
    page.click("[data-endpoint='rooms.day']")  # click 1: the grid
    page.wait_for_selector("[data-testid=rooms-grid]")
    page.fill("input[name=date]", day.isoformat())
    page.click("[data-testid=rooms-date] button")
    page.wait_for_selector(f"#rooms-day:text('{day.isoformat()}')")
    for key in cells:  # with JavaScript a click anywhere in a cell selects it, nothing is sent yet
        page.click(f"td[data-cell='{key}']")
        assert "room-selected" in page.get_attribute(f"td[data-cell='{key}']", "class")
    assert page.inner_text("#rooms-count") == "3"
    assert holders(app, room, day) == {}
    page.screenshot(path=str(artifacts_dir / "rooms_flow_1_selected.png"), full_page=True)
    page.click("#rooms-save")
    page.wait_for_selector(".alert-success")
    for key in cells:
        assert page.get_attribute(f"td[data-cell='{key}']", "data-state") == "mine"
    assert holders(app, room, day) == {14: "staff1", 15: "staff1", 16: "staff1"}

    page.click(f"td[data-cell='{cells[1]}']")  # own booking: select it for cancelling
    assert page.inner_text("#rooms-count") == "1"
    page.click("#rooms-save")
    page.wait_for_selector(".alert-success")
    assert page.get_attribute(f"td[data-cell='{cells[1]}']", "data-state") == "free"
    assert holders(app, room, day) == {14: "staff1", 16: "staff1"}
    page.screenshot(path=str(artifacts_dir / "rooms_flow_2_after_cancel.png"), full_page=True)
    page.click("[data-endpoint='rooms.mine']")
    page.wait_for_selector("[data-testid=upcoming]")
    for key in (cells[0], cells[2]):
        assert page.locator(f"[data-testid=upcoming] tr[data-cell='{key}']").count() == 1
    assert page.locator(f"[data-testid=upcoming] tr[data-cell='{cells[1]}']").count() == 0
    assert page.input_value("#feed-url").endswith(".ics")
    page.screenshot(path=str(artifacts_dir / "rooms_flow_3_my_bookings.png"), full_page=True)
    sign_out(page)

    sign_in(page, live_server, "sales2")
    page.goto(f"{live_server.url}/rooms/?date={day.isoformat()}")
    page.wait_for_selector("[data-testid=rooms-grid]")
    for key in (cells[0], cells[2]):
        cell = page.locator(f"td[data-cell='{key}']")
        assert cell.get_attribute("data-state") == "taken"
        assert cell.inner_text().strip() == "郑前台"
        assert cell.locator("input").count() == 0
        cell.click()  # nothing to select
        assert "room-selected" not in (cell.get_attribute("class") or "")
    assert page.is_hidden("#rooms-count")
    assert page.get_attribute(f"td[data-cell='{cells[1]}']", "data-state") == "free"
    page.screenshot(path=str(artifacts_dir / "rooms_flow_4_other_user.png"), full_page=True)
    page.click(f"th[data-room='{room}'] a")  # the week view of that room shows the same two cells
    page.wait_for_selector("[data-testid=rooms-week]")
    for key in (cells[0], cells[2]):
        assert page.get_attribute(f"td[data-cell='{key}']", "data-state") == "taken"
    page.screenshot(path=str(artifacts_dir / "rooms_flow_5_week.png"), full_page=True)
    # A save with nothing selected changes nothing and says why.
    page.click("#rooms-save")
    page.wait_for_selector("[data-testid=room-errors]")
    assert holders(app, room, day) == {14: "staff1", 16: "staff1"}
