"""bench/web.py's HTTP side: signing in through the form, and a bounded load generator.

`drive` runs `clients` keep-alive connections (threads spread over two processes, each thread one
http.client connection sending requests back to back) for a warm-up second and then the measured
seconds; it stops by itself at the deadline and returns requests/s and latency percentiles.
"""
from __future__ import annotations

import http.client
import multiprocessing
import re
import statistics
import threading
import time
import urllib.parse
from pathlib import Path

from bench.common import percentile
from bench.web_data import PASSWORD


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


def median_result(runs: list[dict]) -> dict:
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
