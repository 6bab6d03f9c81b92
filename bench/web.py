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
   threads, each thread one keep-alive http.client connection, requests back to back) runs
   for a warm-up second and then ``--seconds`` seconds; it stops by itself at the deadline.
   Per page: requests/s, p50/p95/p99 latency (ms), and throughput / /healthz's (measured in
   the same run with the same clients).
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
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import multiprocessing
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from bench.common import ROOT, delete_prefix, emit, percentile

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "bench-web-pass-1"
CONSULTANTS = 100
HELD_EACH = 120
HEAVY_HELD = 1000
SURNAMES = "王王王李李李张张张刘刘陈陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞辉宇婷晶雪琳浩文博欣怡"
NAME_SEARCH = "王伟"


# -- the database ------------------------------------------------------------------------------
def _base(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0].rsplit("/", 1)[0]


def database_url(leads: int) -> str:
    """The benchmark database's URL (kept between runs)."""
    return f"{_base(ADMIN_URL)}/crm_bench_web_{leads}"


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def ready(url: str) -> bool:
    """True when the database exists, is at the migration head and was filled completely."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            filled = conn.execute("SELECT to_regclass('bench_web_filled') IS NOT NULL").fetchone()[0]
    except psycopg.Error:
        return False
    return bool(version and version[0] == _head_revision() and filled)


def build(url: str, leads: int) -> float:
    """(Re)create the database, migrate it and fill it; returns seconds taken."""
    import psycopg

    started = time.perf_counter()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{_base(ADMIN_URL)}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    from bench.common import make_app

    app = make_app(url, REDIS_URL, f"crm-bench-web-build-{uuid.uuid4().hex[:6]}", migrate=True)
    from crm.auth.models import User
    from crm.extensions import db

    with app.app_context():
        probe = User(username="x", name="x", kind=User.KIND_STAFF)
        probe.set_password(PASSWORD)
        password_hash = probe.password_hash
        db.session.remove()
        db.engine.dispose()
    fill(url, leads, password_hash)
    return time.perf_counter() - started


def fill(url: str, leads: int, password_hash: str) -> None:
    """Accounts and leads, with generate_series (see the module's docstring)."""
    import psycopg

    today = dt.date.today()
    held_rows = CONSULTANTS * HELD_EACH * 10  # held leads are g % 10 = 1 with g below this
    heavy_rows = (HEAVY_HELD - HELD_EACH) * 10
    with psycopg.connect(url, autocommit=True) as conn:
        def role(name: str) -> int:
            return conn.execute("SELECT id FROM roles WHERE name = %s", (name,)).fetchone()[0]

        conn.execute(
            """INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at)
               SELECT 'bench' || g, %s, 'staff', '顾问' || g, true, false, now() FROM generate_series(1, %s) g""",
            (password_hash, CONSULTANTS))
        conn.execute("INSERT INTO user_roles (user_id, role_id) SELECT id, %s FROM users WHERE username LIKE 'bench%%'",
                     (role("consultant"),))
        conn.execute("INSERT INTO sale_ranks (user_id, num, weight, active, updated_at) "
                     "SELECT id, 1, 1, true, now() FROM users WHERE username LIKE 'bench%%'")
        for username, title, role_name in (("benchdirector", "销售总监", "sales_director"),
                                           ("benchstaff", "前台", "staff")):
            user_id = conn.execute(
                "INSERT INTO users (username, password_hash, kind, name, active, must_change_password, created_at) "
                "VALUES (%s, %s, 'staff', %s, true, false, now()) RETURNING id",
                (username, password_hash, title)).fetchone()[0]
            conn.execute("INSERT INTO user_roles (user_id, role_id) VALUES (%s, %s)", (user_id, role(role_name)))
        u0 = conn.execute("SELECT min(id) FROM users WHERE username LIKE 'bench%%'").fetchone()[0]
        # g % 10 = 0: pool (10 %); g % 10 = 1 and g < held_rows: held by consultant (g / 10) % 100
        # (~120 each), up to held_rows + heavy_rows: held by bench2 (1,000 in all); else enrolled.
        conn.execute(
            """INSERT INTO customers (qq, name, gender, source, status, consultant_id, inquiry_date, received_on,
                                      last_follow_up_on, last_lost_by_id, pool_reason, pool_since, phone, email,
                                      channel, created_at)
               SELECT (200000000 + g)::text,
                      substr(%(s)s, (1 + (g * 7919) %% %(ns)s)::int, 1)
                        || substr(%(gv)s, (1 + (g * 104729 / 7) %% %(ng)s)::int, 1)
                        || CASE WHEN g %% 3 = 0 THEN ''
                                ELSE substr(%(gv)s, (1 + (g * 15485863 / 13) %% %(ng)s)::int, 1) END,
                      1 + g %% 2, 1 + g %% 16,
                      CASE WHEN g %% 10 <= 1 AND (g %% 10 = 0 OR g < %(hh)s) THEN 1 ELSE 2 END,
                      CASE WHEN g %% 10 = 0 THEN NULL
                           WHEN g %% 10 = 1 AND g < %(held)s THEN %(u0)s + (g / 10) %% %(n)s
                           WHEN g %% 10 = 1 AND g < %(hh)s THEN %(u0)s + 1
                           ELSE %(u0)s + g %% %(n)s END,
                      %(today)s::date - 16 - (g %% 700)::int,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - 30 ELSE %(today)s::date - (g %% 12)::int END,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - 28 ELSE %(today)s::date - (g %% 3)::int END,
                      CASE WHEN g %% 10 = 0 THEN %(u0)s + g %% %(n)s END,
                      CASE WHEN g %% 10 = 0 THEN 3 + g %% 2 END,
                      CASE WHEN g %% 10 = 0 THEN %(today)s::date - (g %% 60)::int END,
                      '139' || lpad(g::text, 8, '0'),
                      CASE WHEN g %% 5 = 2 THEN 'lead' || g || '@example.com' END,
                      'import', now()
               FROM generate_series(1::bigint, %(leads)s) g""",
            {"s": SURNAMES, "ns": len(SURNAMES), "gv": GIVEN, "ng": len(GIVEN), "held": held_rows,
             "hh": held_rows + heavy_rows, "u0": u0, "n": CONSULTANTS, "today": today, "leads": leads})
        conn.execute(
            """INSERT INTO customer_distributions (customer_id, consultant_id, started_on, ended_on, status, origin)
               SELECT id, coalesce(consultant_id, last_lost_by_id), received_on,
                      CASE WHEN status = 2 OR consultant_id IS NULL THEN received_on + 2 END,
                      CASE WHEN status = 2 THEN 2 WHEN consultant_id IS NULL THEN pool_reason ELSE 1 END, 'auto'
               FROM customers""")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE TABLE bench_web_filled (at timestamptz)")  # the fill finished
        conn.execute("INSERT INTO bench_web_filled VALUES (now())")


def refresh_dates(url: str) -> dict:
    """Move the held leads' dates to today (a reused database from another day); some facts for the report."""
    import psycopg

    today = dt.date.today()
    with psycopg.connect(url, autocommit=True) as conn:
        moved = conn.execute(
            """UPDATE customers SET received_on = %(t)s::date - (id %% 12), last_follow_up_on = %(t)s::date - (id %% 3)
               WHERE status = 1 AND consultant_id IS NOT NULL
                 AND (received_on IS DISTINCT FROM %(t)s::date - (id %% 12)
                      OR last_follow_up_on IS DISTINCT FROM %(t)s::date - (id %% 3))""", {"t": today}).rowcount
        if moved:
            conn.execute("VACUUM ANALYZE customers")
        facts = {"leads": conn.execute("SELECT count(*) FROM customers").fetchone()[0]}
        for username in ("bench1", "bench2"):
            facts[f"held_{username}"] = conn.execute(
                "SELECT count(*) FROM customers c JOIN users u ON u.id = c.consultant_id "
                "WHERE u.username = %s AND c.status = 1", (username,)).fetchone()[0]
        facts["pool"] = conn.execute(
            "SELECT count(*) FROM customers WHERE status = 1 AND consultant_id IS NULL").fetchone()[0]
        facts["name_matches"] = conn.execute("SELECT count(*) FROM customers WHERE name LIKE %s",
                                             (f"%{NAME_SEARCH}%",)).fetchone()[0]
        facts["lead_id"] = conn.execute(
            "SELECT c.id FROM customers c JOIN users u ON u.id = c.consultant_id WHERE u.username = 'bench1' "
            "AND c.status = 1 ORDER BY c.id LIMIT 1").fetchone()[0]
        facts["qq"] = conn.execute("SELECT qq FROM customers WHERE id = %s", (facts["lead_id"] + 7,)).fetchone()[0]
    return facts


def delete_entered(url: str, marker: str) -> int:
    """Remove the leads the lead-entry runs created (their names start with `marker`), with their rows.

    The rows that point at these leads (their holdings, courses and audit entries) are deleted
    first; the leads they referred, none, are found through ix_customers_referred_by_id.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM customers WHERE channel = 'form' AND name LIKE %s",
                                          (marker + "%",))]
        conn.execute("DELETE FROM customer_distributions WHERE customer_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM customer_courses WHERE customer_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM audit_log WHERE object_type = 'customer' AND object_id = ANY(%s)",
                     ([str(i) for i in ids],))
        deleted = conn.execute("DELETE FROM customers WHERE id = ANY(%s)", (ids,)).rowcount
        conn.commit()
    return deleted


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


def request(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None,
            connection: http.client.HTTPConnection | None = None):
    """One HTTP request; returns (status, body bytes, headers)."""
    own = connection is None
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        if own:
            conn.close()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def sign_in(port: int, username: str) -> tuple[str, str]:
    """Sign in through the form; returns (Cookie header, a CSRF token of that session)."""
    status, body, headers = request(port, "GET", "/auth/login")
    cookie = _cookies(headers, "")
    token = CSRF_RE.search(body.decode()).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD})
    status, body, headers = request(port, "POST", "/auth/login", form, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    if status != 302:
        raise SystemExit(f"sign-in of {username} answered {status}")
    cookie = _cookies(headers, cookie)
    status, body, _headers = request(port, "GET", "/sales/leads/new" if username == "benchstaff" else "/sales/mine",
                                     headers={"Cookie": cookie})
    match = CSRF_RE.search(body.decode())
    return cookie, match.group(1) if match else ""


def _cookies(headers, current: str) -> str:
    jar = dict(part.split("=", 1) for part in current.split("; ") if "=" in part)
    for raw in headers.get_all("Set-Cookie") or []:
        name, value = raw.split(";", 1)[0].split("=", 1)
        jar[name] = value
    return "; ".join(f"{k}={v}" for k, v in jar.items())


# -- the load generator ------------------------------------------------------------------------
def _client(port, spec, deadline_start, deadline_end, worker_id, results):
    method, path, headers, post = spec
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, count = [], {}, 0
    while True:
        now = time.perf_counter()
        if now >= deadline_end or count >= 1_000_000:  # bounded by time and by count
            break
        body = None
        if post is not None:
            body = post(worker_id, count)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status in (200, 302)
            status = response.status
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as error:
            ok, status = False, type(error).__name__
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        finished = time.perf_counter()
        count += 1
        if started >= deadline_start:  # after the warm-up
            if ok:
                latencies.append((finished - started) * 1000)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
    conn.close()
    results.append((latencies, errors))


def _load_process(port, spec, threads, start_at, warmup, seconds, process_no, queue):
    results: list = []
    # Wall-clock start shared by every process; perf_counter deadlines from it.
    time.sleep(max(0.0, start_at - time.time()))
    base = time.perf_counter()
    workers = [threading.Thread(target=_client, args=(port, spec, base + warmup, base + warmup + seconds,
                                                      process_no * 1000 + i, results)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def drive(port: int, spec, clients: int, seconds: float, warmup: float = 1.0, processes: int = 2) -> dict:
    """`clients` keep-alive connections (threads spread over `processes` processes) for warm-up + `seconds`."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    children = [context.Process(target=_load_process, args=(port, spec, n, start_at, warmup, seconds, i, queue))
                for i, n in enumerate(shares) if n]
    for child in children:
        child.start()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    for _ in children:
        for values, failed in queue.get(timeout=warmup + seconds + 120):
            latencies.extend(values)
            for status, n in failed.items():
                errors[status] = errors.get(status, 0) + n
    for child in children:
        child.join(timeout=30)
    if not latencies:
        return {"rps": 0.0, "p50": None, "p95": None, "p99": None, "n": 0, "errors": errors}
    return {"rps": round(len(latencies) / seconds, 1), "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1), "p99": round(percentile(latencies, 99), 1),
            "n": len(latencies), "errors": errors}


def _median_result(runs: list[dict]) -> dict:
    """One page's rounds as one result: the median of each figure, the errors summed."""
    def median(name):
        values = [run[name] for run in runs if run[name] is not None]
        return round(statistics.median(values), 3) if values else None

    errors: dict[str, int] = {}
    for run in runs:
        for status, n in run["errors"].items():
            errors[status] = errors.get(status, 0) + n
    return {**{name: median(name) for name in ("rps", "p50", "p95", "p99", "ratio")},
            "n": sum(run["n"] for run in runs), "errors": errors, "load_before": runs[0]["load_before"],
            "rounds": [{name: run[name] for name in ("rps", "p95", "ratio")} for run in runs]}


def load_average() -> str:
    """The machine's 1-minute load average (the benchmark is honest about a busy machine)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


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
                    result = drive(args.port, (method, path, headers, post), clients, args.seconds)
                    result["load_before"] = load
                    base = measured.get("healthz", result)["rps"]  # /healthz comes first: its own base
                    result["ratio"] = round(result["rps"] / base, 3) if base else 0.0
                    measured[key] = result
                    print(f"{clients:>3} clients  round {number}  {key:<22} {result['rps']:>8.1f} req/s  p50 "
                          f"{result['p50']} ms  p95 {result['p95']} ms  p99 {result['p99']} ms  errors "
                          f"{result['errors'] or 0}  ratio {result['ratio']}  (load {load})", flush=True)
                rounds[clients].append(measured)
        results = {clients: {key: _median_result([r[key] for r in runs]) for key, *_rest in pages}
                   for clients, runs in rounds.items()}
    finally:
        stop_gunicorn(process)
        deleted = delete_entered(url, marker)
        print(f"deleted the {deleted} leads the lead-entry runs created and {delete_prefix(REDIS_URL, prefix)} "
              f"Redis keys of the run", flush=True)
        if args.drop:
            import psycopg

            with psycopg.connect(f"{_base(ADMIN_URL)}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            print("dropped the benchmark database", flush=True)

    print()
    print(f"{'page':<22}" + "".join(f"{c:>3} clients: req/s  p50   p95   p99  ratio | " for c in client_counts))
    ratios: dict[int, dict[str, float]] = {}
    for key, *_rest in pages:
        line = f"{key:<22}"
        for clients in client_counts:
            r = results[clients][key]
            ratio = ratios.setdefault(clients, {})[key] = r["ratio"]
            line += f"{r['rps']:>17.1f} {r['p50']!s:>5} {r['p95']!s:>5} {r['p99']!s:>5} {ratio:>6} | "
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
