"""Benchmark the pool page and My customers (plain, searched, filtered) at 1,000,000 leads (PostgreSQL).

Usage: .venv/bin/python -m bench.pages [--leads N] [--requests N]

Same scratch data as bench/reclaim.py. Each page is requested through the
app (signed in as a consultant, whose "today" is the data's date); the time
is measured inside the server (before_request → teardown_request) and the SQL
statements per request are counted. /healthz runs in the same process as the
reference. Prints median and p95 per page; last line JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench.common import RequestMeter, percentile
from bench.reclaim import TODAY, fill, make_app, scratch_database

PAGES = [
    ("healthz", "/healthz"),
    ("pool", "/sales/pool"),
    ("pool_page_40", "/sales/pool?page=40"),
    ("pool_filtered", "/sales/pool?source=3&reason=3&from=2025-01-01&to=2026-06-01"),
    ("pool_search", "/sales/pool?q=100000129"),  # a pool lead (g % 20 > 8)
    ("my_customers", "/sales/mine"),
    ("my_customers_filtered", "/sales/mine?q=%E5%AE%A2%E6%88%B71&source=3&received_from=2026-06-01&sort=-expires"),
    ("my_history", "/sales/mine?tab=history"),
    ("my_history_filtered", "/sales/mine?tab=history&status=3&source=3&q=%E5%AE%A2%E6%88%B71"
                            "&ended_from=2025-01-01&ended_to=2026-06-15"),
]
# A filtered page runs no more statements than the plain one: filters narrow the SQL, they add no queries.
SAME_QUERIES = [("pool_search", "pool"), ("my_customers_filtered", "my_customers"),
                ("my_history_filtered", "my_history")]


def main(argv: list[str] | None = None) -> int:
    """Build the data, time every page, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    with scratch_database("pages") as url:
        app = make_app(url)
        info = fill(url, args.leads)
        print(f"data: {args.leads} leads generated in {info['seconds']:.1f}s", flush=True)

        import sqlalchemy as sa

        from crm.auth.models import User
        from crm.core import clock
        from crm.extensions import db

        clock.today = lambda: TODAY  # the data is dated around TODAY
        with app.app_context():
            user = db.session.scalar(sa.select(User).where(User.username == "bench1"))
            user.set_password("bench-pass-1")
            db.session.commit()
            held = db.session.scalar(sa.text("SELECT count(*) FROM customers WHERE consultant_id = :u AND status = 1"),
                                     {"u": user.id})
            history = db.session.scalar(sa.text("SELECT count(*) FROM customer_distributions WHERE consultant_id = :u"),
                                        {"u": user.id})
            engine = db.engine
        print(f"consultant bench1 holds {held} not-enrolled leads and has {history} history rows", flush=True)

        timings: dict[str, list[float]] = {}
        queries: dict[str, int] = {}
        meter = RequestMeter(app, engine)

        client = app.test_client()
        answer = client.post("/auth/login", data={"username": "bench1", "password": "bench-pass-1"})
        assert answer.status_code == 302, answer.status_code
        for key, path in PAGES:
            for i in range(args.requests + 5):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                if i >= 5:  # warm-up requests are not counted
                    timings.setdefault(key, []).append(meter.elapsed_ms)
                    queries[key] = meter.queries
        meter.close()
        with app.app_context():
            db.engine.dispose()

        for filtered, plain in SAME_QUERIES:
            assert queries[filtered] <= queries[plain], (filtered, queries[filtered], plain, queries[plain])
        summary = {}
        for key, path in PAGES:
            values = timings[key]
            summary[key] = {"median_ms": round(statistics.median(values), 2),
                            "p95_ms": round(percentile(values, 95), 2), "queries": queries[key]}
            print(f"{key:<22} {path:<60} median {summary[key]['median_ms']:7.2f} ms  "
                  f"p95 {summary[key]['p95_ms']:7.2f} ms  queries {queries[key]}")
        # ours: the slowest page's p95; baseline: /healthz's p95 in the same run.
        worst = max(summary[k]["p95_ms"] for k in summary if k != "healthz")
        baseline = summary["healthz"]["p95_ms"]
        print(json.dumps({"bench": "pages", "unit": "ms (p95)", "ours": worst, "baseline": baseline,
                          "ratio": round(worst / baseline, 2) if baseline else None, "n": args.leads,
                          "pages": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
