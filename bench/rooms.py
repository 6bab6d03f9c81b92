"""Benchmark the meeting-room day grid with 50 rooms and a year of bookings (PostgreSQL).

Usage: .venv/bin/python -m bench.rooms [--rooms N] [--requests N]

A scratch database on PG_ADMIN_URL's server is built by the migrations and
filled with generate_series: N rooms, 40 bookers, and about half of every
room's slots booked on each day of a year around today. The day grid (and one
room's week view) is requested through the app signed in as a booker; the time
is measured inside the server (first before-request hook → teardown) and the
SQL statements per request are counted. /healthz in the same process is the
baseline. Last line: JSON ("ours" = the day grid's p95).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time

import psycopg

from bench.common import (
    RequestMeter,
    bench_redis_url,
    delete_prefix,
    make_app,
    percentile,
    scratch_postgres,
    unique_prefix,
)
from bench.reclaim import ADMIN_URL

BOOKERS = 40


def fill(url: str, rooms: int, today) -> dict:
    """Rooms, bookers and a year of bookings (about half of all cells), in a few statements."""
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        conn.execute(
            "INSERT INTO rooms (name, capacity, active) "
            "SELECT 'Room ' || lpad(i::text, 3, '0'), 4 + i %% 20, true FROM generate_series(1, %s) i", (rooms,))
        conn.execute(
            "INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at) "
            "SELECT 'booker' || i, 'x', 'staff', '订房人' || i, true, false, now() FROM generate_series(1, %s) i",
            (BOOKERS,))
        conn.execute(
            "INSERT INTO room_bookings (room_id, booked_on, slot, user_id, created_at) "
            "SELECT r.id, d::date, s, (SELECT min(id) FROM users WHERE username LIKE 'booker%%') "
            "       + ((r.id * 31 + s * 7 + extract(doy FROM d)::int) %% %s), now() "
            "FROM rooms r, generate_series(%s::date - 182, %s::date + 182, interval '1 day') d, "
            "     generate_series(8, 20) s "
            "WHERE (r.id * 13 + s * 5 + extract(doy FROM d)::int) %% 2 = 0",
            (BOOKERS, today, today))
        count = conn.execute("SELECT count(*) FROM room_bookings").fetchone()[0]
        conn.execute("ANALYZE")
    return {"bookings": count, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    """Build the data, time the pages, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    prefix = unique_prefix("rooms")
    with bench_redis_url() as redis_url, scratch_postgres(ADMIN_URL, "rooms") as url:
        app = make_app(url, redis_url, prefix, migrate=True, WTF_CSRF_ENABLED=False)
        import sqlalchemy as sa

        from crm.auth.models import Role, User
        from crm.core import clock
        from crm.extensions import db
        from crm.rooms.models import Room

        today = clock.today()
        info = fill(url, args.rooms, today)
        print(f"data: {args.rooms} rooms, {info['bookings']} bookings over a year, "
              f"generated in {info['seconds']:.1f}s", flush=True)
        with app.app_context():
            user = db.session.scalar(sa.select(User).where(User.username == "booker1"))
            user.set_password("bench-pass-1")
            user.roles = list(db.session.scalars(sa.select(Role).where(Role.name == "staff")))
            db.session.commit()
            room_id = db.session.scalar(sa.select(sa.func.min(Room.id)))
            engine = db.engine

        tomorrow = (today + dt.timedelta(days=1)).isoformat()
        pages = [
            ("healthz", "/healthz"),
            ("day_grid", f"/rooms/?date={tomorrow}"),
            ("week_view", f"/rooms/{room_id}/week?date={tomorrow}"),
        ]
        meter = RequestMeter(app, engine)

        client = app.test_client()
        answer = client.post("/auth/login", data={"username": "booker1", "password": "bench-pass-1"})
        assert answer.status_code == 302, answer.status_code
        timings: dict[str, list[float]] = {key: [] for key, _path in pages}
        queries: dict[str, set[int]] = {key: set() for key, _path in pages}
        for i in range(args.requests + 10):
            for key, path in pages:  # interleaved so load drift hits every page alike
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                if i >= 10:
                    timings[key].append(meter.elapsed_ms)
                    queries[key].add(meter.queries)
        meter.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        delete_prefix(redis_url, prefix)

    summary = {}
    for key, path in pages:
        values = timings[key]
        summary[key] = {"median_ms": round(statistics.median(values), 2), "p95_ms": round(percentile(values, 95), 2),
                        "queries": sorted(queries[key])}
        print(f"{key:<10} {path:<40} median {summary[key]['median_ms']:7.2f} ms  "
              f"p95 {summary[key]['p95_ms']:7.2f} ms  queries {summary[key]['queries']}")
    ours, baseline = summary["day_grid"]["p95_ms"], summary["healthz"]["p95_ms"]
    print(json.dumps({"bench": "rooms", "unit": "ms (p95, day grid)", "ours": ours, "baseline": baseline,
                      "ratio": round(ours / baseline, 2) if baseline else None, "n": info["bookings"],
                      "rooms": args.rooms, "queries": summary["day_grid"]["queries"], "pages": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
