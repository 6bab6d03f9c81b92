"""Rooms pages: day grid, week of one room, the submit, My bookings and the iCalendar feed (R-2 … R-6)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from crm.core import clock, uow
from crm.core.access import permission_required, public
from crm.core.errors import DomainError
from crm.core.ids import is_id
from crm.core.listing import to_date, to_int
from crm.core.menu import MenuItem, register_menu
from crm.core.safe_redirect import is_local_path
from crm.extensions import db
from crm.rooms import bp, feed, grid, services
from crm.rooms.cells import cell_label, max_repeat_weeks, slot_label
from crm.rooms.forms import FeedKeyForm, parse_change
from crm.rooms.models import Room

# Dates a page may show: far enough for any real use, well inside what date arithmetic allows.
MIN_DAY, MAX_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def register_rooms_menu(app: Flask) -> None:
    """Sidebar entries of the rooms area."""
    register_menu(app, "rooms", _l("Meeting rooms"), 60, [
        MenuItem(_l("Book a room"), "rooms.day", "rooms.book"),
        MenuItem(_l("My bookings"), "rooms.mine", "rooms.book", order=10),
        MenuItem(_l("Rooms"), "rooms_admin.index_view", "rooms.manage", order=20),
    ])


def _page_day(raw: str | None, today: dt.date) -> dt.date:
    """The date asked for in the query string; a bad one is reported and today shown instead."""
    if raw is None or raw == "":
        return today
    day = to_date(raw)
    if day is None or not MIN_DAY <= day <= MAX_DAY:
        flash(_("“%(value)s” is not a valid date; showing today.", value=raw[:40]), "warning")
        return today
    return day


def _grid_context(errors: list[str] | None = None, selected: set[str] | None = None,
                  refused: set[str] | None = None) -> dict:
    return {"errors": errors or [], "selected": selected or set(), "refused": refused or set(),
            "slot_label": slot_label, "max_weeks": max_repeat_weeks()}


def render_day(day: dt.date, status: int = 200, **state):
    """The day grid of `day` (every active room × every slot)."""
    now = clock.now()
    rooms, day_grid = grid.day_grid(current_user.id, day, now)
    return render_template(
        "rooms/day.html", day=day, today=now.date(), rooms=rooms, grid=day_grid,
        prev_day=max(day - dt.timedelta(days=1), MIN_DAY), next_day=min(day + dt.timedelta(days=1), MAX_DAY),
        **_grid_context(**state),
    ), status


def render_week(room: Room, start: dt.date, status: int = 200, **state):
    """One room's week from Monday `start`."""
    now = clock.now()
    week = grid.week_grid(current_user.id, room, start, now)
    return render_template(
        "rooms/week.html", room=room, start=start, today=now.date(), grid=week, rooms=grid.active_rooms(),
        prev_start=max(start - dt.timedelta(days=7), MIN_DAY), next_start=min(start + dt.timedelta(days=7), MAX_DAY),
        **_grid_context(**state),
    ), status


@bp.route("/", endpoint="day")
@bp.route("/day", endpoint="day")  # registered first, so url_for gives /rooms/day (the menu marks it alone)
@permission_required("rooms.book")
def day_page():
    """Day grid (R-2): rooms × hourly slots; free, mine, someone else's (who), past."""
    return render_day(_page_day(request.args.get("date"), clock.today()))


@bp.route("/<int:room_id>/week", endpoint="week")
@permission_required("rooms.book")
def week_page(room_id: int):
    """One room's week (R-6)."""
    room = db.get_or_404(Room, room_id)
    if not room.active:
        abort(404)
    day = _page_day(request.args.get("date"), clock.today())
    return render_week(room, grid.week_start(day))


def _rerender(origin: str, status: int, **state):
    """Show the page the submit came from again, with the messages and the selection kept."""
    if origin == "week":
        room_id = to_int(request.form.get("room", ""))
        room = db.session.get(Room, room_id) if room_id is not None and is_id(room_id) else None
        day = to_date(request.form.get("date", "")) or clock.today()
        if room is not None and room.active and MIN_DAY <= day <= MAX_DAY:
            return render_week(room, grid.week_start(day), status, **state)
    day = to_date(request.form.get("date", "")) or clock.today()
    if not MIN_DAY <= day <= MAX_DAY:
        day = clock.today()
    return render_day(day, status, **state)


def _back_url(default: str) -> str:
    target = request.form.get("next", "")
    return target if is_local_path(target) else default


@bp.route("/changes", methods=["POST"], endpoint="submit")
@permission_required("rooms.book")
def submit():
    """Save the selected bookings and cancellations at once (R-3): all or nothing."""
    origin = request.form.get("origin", "day")
    change = parse_change(request.form)
    selected = set(request.form.getlist("book")[:1000]) | set(request.form.getlist("cancel")[:1000])
    if change.errors:
        return _refuse(origin, 422, list(change.errors.values()), selected)
    now = clock.now()
    try:
        if change.repeat_weeks > 1 and not change.skip_taken and change.book:
            wanted, taken = services.repeat_conflicts(change.book, change.repeat_weeks, now)
            if taken:
                db.session.rollback()
                return _repeat_preview(change, origin, wanted, taken)
        result = services.apply_changes(current_user.id, change.book, change.cancel, now,
                                        repeat_weeks=change.repeat_weeks, skip_taken=change.skip_taken)
        uow.commit()
    except services.CellsRefused as error:
        db.session.rollback()
        return _refuse(origin, 409, [error.message], selected, {cell.key for cell in error.cells})
    except DomainError as error:
        db.session.rollback()
        return _refuse(origin, error.status_code, [error.message], selected)
    except sa.exc.OperationalError:
        # A deadlock or lock timeout between crafted, crossing submits: nothing was saved.
        db.session.rollback()
        return _refuse(origin, 409, [_("The rooms were busy; nothing was saved. Please try again.")], selected)
    _report(result)
    default = url_for("rooms.day", date=(result.booked or result.cancelled)[0].day.isoformat()) \
        if (result.booked or result.cancelled) else url_for("rooms.day")
    return redirect(_back_url(default))


def _refuse(origin: str, status: int, errors: list[str], selected: set[str], refused: set[str] | None = None):
    if origin == "mine":
        for message in errors:
            flash(message, "danger")
        return redirect(url_for("rooms.mine"))
    return _rerender(origin, status, errors=errors, selected=selected - (refused or set()), refused=refused)


def _report(result: services.ChangeResult) -> None:
    if result.booked:
        flash(ngettext("%(num)d hour booked.", "%(num)d hours booked.", len(result.booked)), "success")
    if result.cancelled:
        flash(ngettext("%(num)d booking cancelled.", "%(num)d bookings cancelled.", len(result.cancelled)), "success")
    if result.skipped:
        names = services.room_names(cell.room_id for cell in result.skipped)
        flash(_("Left out because they are taken: %(cells)s.",
                cells="; ".join(cell_label(cell, names) for cell in result.skipped)), "warning")


def _repeat_preview(change, origin: str, wanted, taken):
    """Before saving a repeat booking: list the taken occurrences; book only the free ones, or none (R-6)."""
    names = services.room_names(cell.room_id for cell in wanted)
    back = _back_url(url_for("rooms.day", date=request.form.get("date") or None))
    return render_template(
        "rooms/repeat_preview.html", change=change, origin=origin, wanted=wanted, taken=taken,
        free_count=len(wanted) - len(taken), names=names, slot_label=slot_label, back=back,
        form_date=request.form.get("date", ""), form_room=request.form.get("room", ""),
    )


@bp.route("/mine", endpoint="mine")
@permission_required("rooms.book")
def mine():
    """My bookings: upcoming (with cancel) and past; the secret calendar URL."""
    now = clock.now()
    upcoming, past = grid.my_bookings(current_user.id, now)
    token = feed.feed_token(current_user.id)
    uow.commit()  # the feed key is created on first visit
    feed_url = url_for("rooms.feed", user_id=current_user.id, token=token, _external=True)
    return render_template("rooms/mine.html", upcoming=upcoming, past=past, feed_url=feed_url,
                           slot_label=slot_label, form=FeedKeyForm())


@bp.route("/mine/feed-key", methods=["POST"], endpoint="regenerate_feed")
@permission_required("rooms.book")
def regenerate_feed():
    """A new secret calendar URL; the old one stops working."""
    form = FeedKeyForm()
    if not form.validate_on_submit():
        abort(400)
    feed.regenerate_feed_key(current_user.id)
    uow.commit()
    flash(_("A new calendar address was made; the old one no longer works."), "success")
    return redirect(url_for("rooms.mine"))


@bp.route("/feed/<int:user_id>/<token>.ics", endpoint="feed")
@public  # calendar apps cannot sign in: the HMAC token in the URL is the credential (crm.rooms.feed)
def feed_ics(user_id: int, token: str):
    """The user's bookings as iCalendar (R-5); a wrong or replaced token answers 404."""
    owner = feed.feed_owner(user_id, token)
    if owner is None:
        abort(404)
    body = feed.build_feed(owner, clock.today())
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": "inline; filename=rooms.ics",
                             "Cache-Control": "private, max-age=300"})
