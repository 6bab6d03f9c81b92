"""Load benchmark of the web pages at 1,000,000 leads: gunicorn as the README recommends, real HTTP.

Usage: .venv/bin/python -m bench.web [--leads N] [--seconds S] [--clients 8,32] [--port 5150] [--rounds R]
                                     [--rebuild] [--drop]

1. The database ``crm_bench_web_<N>`` on PG_ADMIN_URL's server is built once (migrations, then
   generate_series: 100 consultants holding ~120 leads each and one holding 1,000, 10 % of the
   leads in the pool, the rest enrolled; Chinese names from common surnames and given names)
   and reused by later runs while its schema is at the current migration head (``--rebuild``
   builds it again, ``--drop`` drops it after the run). The held leads' dates are moved to
   today on every run, so nothing has expired whatever the day.
2. gunicorn is started on 127.0.0.1:<port> with ``gunicorn.conf.py`` (threaded workers,
   keep-alive), CRM_ENV=production, its own Redis key prefix.
3. For each page and each number of clients, a bounded load generator (two processes of
   threads, each thread one keep-alive raw-socket connection, requests back to back) runs
   for a warm-up second and then ``--seconds`` seconds; it stops by itself at the deadline.
   Per page: requests/s, p50/p95/p99 latency (ms), throughput / /healthz's (measured in
   the same run with the same clients), and the CPU each request cost the gunicorn processes
   ("web ms") and PostgreSQL ("db ms", all its processes) and the load generator itself:
   throughput follows the machine's speed of the moment, CPU per request much less.
4. The pages are driven ``--rounds`` times in turn (default 3), /healthz first in each round;
   each figure printed is the median of the rounds, and a page's ratio is the median of its
   ratios to the /healthz of the same round. A shared machine's speed can drift by a factor of
   two within minutes: a page compared once with a /healthz measured minutes before measures
   the drift as much as the page.

Pages: /healthz; the pool (a consultant); My customers of a consultant holding ~120 leads and of
one holding 1,000; a lead's detail page; all leads searched by a Chinese name and by a QQ number
(the director); the lead entry form's POST (writes/s; the leads it enters are deleted at the end).
Last line JSON: "ours" = the slowest page's req/s at the first client count, "baseline" =
/healthz's, "ratio" = the lowest page ratio at that client count (medians of the rounds; each
round's figures are under "pages").

The data is bench/web_data.py's; signing in and the load generator are bench/load.py's.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

from bench.common import ROOT, delete_prefix, emit
from bench.load import (
    cpu_between,
    cpu_of,
    drive,
    load_average,
    median_result,
    named_processes,
    process_tree,
    request,
    sign_in,
)
from bench.web_data import (
    ADMIN_URL,
    NAME_SEARCH,
    REDIS_URL,
    build,
    database_url,
    delete_entered,
    ready,
    refresh_dates,
    server_url,
)


# -- gunicorn ----------------------------------------------------------------------------------
def start_gunicorn(url: str, port: int) -> tuple[subprocess.Popen, str]:
    """gunicorn with gunicorn.conf.py, production settings; waits for /healthz."""
    prefix = f"crm-bench-web-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, CRM_ENV="production", SECRET_KEY=secrets.token_hex(32), DATABASE_URL=url,
               REDIS_URL=REDIS_URL, CRM_REDIS_PREFIX=prefix, SESSION_COOKIE_SECURE="no", CRM_LOG_LEVEL="WARNING")
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited: " + process.stderr.read().decode(errors="replace")[-2000:])
        try:
            status, _body, _headers = request(port, "GET", "/healthz")
            if status == 200:
                return process, prefix
        except OSError:
            pass
        time.sleep(0.3)
    stop_gunicorn(process)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's own process group (it was started in a new session), then wait."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Build or reuse the data, start gunicorn, drive every page, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--port", type=int, default=5150)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database at the end")
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    url = database_url(args.leads)
    if args.rebuild or not ready(url):
        print(f"building {url.rsplit('/', 1)[1]} ({args.leads} leads) ...", flush=True)
        print(f"built in {build(url, args.leads):.0f} s", flush=True)
    else:
        print(f"reusing {url.rsplit('/', 1)[1]}", flush=True)
    facts = refresh_dates(url)
    print(f"data: {facts['leads']} leads, {facts['pool']} unassigned in the pool, bench1 holds "
          f"{facts['held_bench1']}, bench2 holds {facts['held_bench2']}; '{NAME_SEARCH}' is in "
          f"{facts['name_matches']} names", flush=True)

    marker = f"压测{uuid.uuid4().hex[:4]}"
    process, prefix = start_gunicorn(url, args.port)
    try:
        consultant, _ = sign_in(args.port, "bench1")
        heavy, _ = sign_in(args.port, "bench2")
        director, _ = sign_in(args.port, "benchdirector")
        staff, csrf = sign_in(args.port, "benchstaff")

        def entry_body(worker_id: int, i: int) -> str:
            qq = str(10**10 + secrets.randbelow(9 * 10**10))  # 11 digits: none of the data's 9-digit QQs
            return urllib.parse.urlencode({
                "csrf_token": csrf, "submission_token": uuid.uuid4().hex, "qq": qq, "name": f"{marker}{i}",
                "gender": "1", "source": "3", "education": "0", "experience": "0", "work_status": "0"})

        form = {"Content-Type": "application/x-www-form-urlencoded"}
        pages = [
            ("healthz", "GET", "/healthz", {}, None),
            ("pool", "GET", "/sales/pool", {"Cookie": consultant}, None),
            (f"my_customers_{facts['held_bench1']}", "GET", "/sales/mine", {"Cookie": consultant}, None),
            (f"my_customers_{facts['held_bench2']}", "GET", "/sales/mine", {"Cookie": heavy}, None),
            ("lead_detail", "GET", f"/sales/leads/{facts['lead_id']}", {"Cookie": consultant}, None),
            ("search_name", "GET", "/sales/leads?q=" + urllib.parse.quote(NAME_SEARCH), {"Cookie": director}, None),
            ("search_qq", "GET", f"/sales/leads?q={facts['qq']}", {"Cookie": director}, None),
            ("lead_entry_post", "POST", "/sales/leads/new", {"Cookie": staff, **form}, entry_body),
        ]
        for key, method, path, headers, _post in pages:  # every page answers before it is timed
            if method == "GET":
                status, _body, _h = request(args.port, method, path, headers=headers)
                if status != 200:
                    raise SystemExit(f"{key}: {path} answered {status}")
        rounds_count = max(1, args.rounds)
        rounds: dict[int, list[dict[str, dict]]] = {}
        for clients in client_counts:
            rounds[clients] = []
            for number in range(1, rounds_count + 1):
                measured: dict[str, dict] = {}
                for key, method, path, headers, post in pages:
                    load = load_average()
                    web_pids, db_pids = process_tree(process.pid), named_processes("postgres")
                    web_before, db_before = cpu_of(web_pids), cpu_of(db_pids)
                    result = drive(args.port, (method, path, headers, post), clients, args.seconds)
                    web_spent = cpu_between(web_before, cpu_of(process_tree(process.pid)))
                    db_spent = cpu_between(db_before, cpu_of(named_processes("postgres")))
                    sent = result["sent"] or 1
                    # CPU per request (warm-up included) of the gunicorn processes and of all of PostgreSQL.
                    result.update(load_before=load, web_ms=round(web_spent / sent * 1000, 2),
                                  db_ms=round(db_spent / sent * 1000, 2))
                    base = measured.get("healthz", result)["rps"]  # /healthz comes first: its own base
                    result["ratio"] = round(result["rps"] / base, 3) if base else 0.0
                    measured[key] = result
                    print(f"{clients:>3} clients  round {number}  {key:<22} {result['rps']:>8.1f} req/s  p50 "
                          f"{result['p50']} ms  p95 {result['p95']} ms  p99 {result['p99']} ms  errors "
                          f"{result['errors'] or 0}  ratio {result['ratio']}  CPU/req web {result['web_ms']} ms db "
                          f"{result['db_ms']} ms client {result['client_us']} µs  (load {load})", flush=True)
                rounds[clients].append(measured)
        results = {clients: {key: median_result([r[key] for r in runs]) for key, *_rest in pages}
                   for clients, runs in rounds.items()}
    finally:
        stop_gunicorn(process)
        deleted = delete_entered(url, marker)
        print(f"deleted the {deleted} leads the lead-entry runs created and {delete_prefix(REDIS_URL, prefix)} "
              f"Redis keys of the run", flush=True)
        if args.drop:
            import psycopg

            with psycopg.connect(f"{server_url(ADMIN_URL)}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            print("dropped the benchmark database", flush=True)

    print()
    print(f"{'page':<22}" + "".join(f"{c:>3} clients: req/s  p50   p95   p99  ratio web ms db ms | "
                                     for c in client_counts))
    ratios: dict[int, dict[str, float]] = {}
    for key, *_rest in pages:
        line = f"{key:<22}"
        for clients in client_counts:
            r = results[clients][key]
            ratio = ratios.setdefault(clients, {})[key] = r["ratio"]
            line += (f"{r['rps']:>17.1f} {r['p50']!s:>5} {r['p95']!s:>5} {r['p99']!s:>5} {ratio:>6} "
                     f"{r['web_ms']!s:>6} {r['db_ms']!s:>5} | ")
        print(line)
    first = client_counts[0]
    page_ratios = {k: v for k, v in ratios[first].items() if k != "healthz"}
    worst = min(page_ratios, key=page_ratios.get)
    emit({"bench": "web", "unit": f"req/s at {first} clients", "ours": results[first][worst]["rps"],
          "baseline": results[first]["healthz"]["rps"], "ratio": page_ratios[worst], "n": facts["leads"],
          "slowest_page": worst, "cpus": os.cpu_count(), "rounds": rounds_count,
          "load_before": results[first]["healthz"]["load_before"], "pages": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
