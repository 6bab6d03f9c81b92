"""bench/web.py's HTTP side: signing in through the form, and a bounded load generator.

`drive` runs `clients` keep-alive connections (threads spread over two processes, each thread one
raw-socket HTTP/1.1 connection, `Connection`, sending requests back to back) for a warm-up second
and then the measured seconds; it stops by itself at the deadline and returns requests/s, latency
percentiles and its own CPU per request (the client shares the server's cores).
"""
from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import socket
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
class Connection:
    """One keep-alive HTTP/1.1 connection on a raw socket, as lean as the client can be.

    http.client parses every response's headers with the e-mail parser: about 0.4 ms of CPU per
    request, which at /healthz's rate took a fifth of a core from the server being measured on a
    2-core machine. This sends prepared bytes and reads only the status line, Content-Length
    (or chunked framing) and Connection: close.
    """

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def exchange(self, payload: bytes) -> int:
        """Send one request; read its whole response; return the status."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(payload)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
        status = int(head[9:12])
        lowered = head.lower()
        match = _LENGTH.search(lowered)
        if match:
            self._skip(int(match.group(1)))
        elif "transfer-encoding: chunked" in lowered:
            self._skip_chunks()
        elif status not in (204, 304):  # no length: the body runs to the end of the connection
            while self._fill(eof_ok=True):
                self.buffer = b""
            self.close()
            return status
        if "connection: close" in lowered:
            self.close()
        return status

    def _fill(self, eof_ok: bool = False) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            if eof_ok:
                return False
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk
        return True

    def _skip(self, length: int) -> None:
        while len(self.buffer) < length:
            length -= len(self.buffer)
            self.buffer = b""
            self._fill()
        self.buffer = self.buffer[length:]

    def _skip_chunks(self) -> None:
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                self._fill()
            size = int(self.buffer[:end].split(b";")[0], 16)
            self.buffer = self.buffer[end + 2:]
            self._skip(size + 2)  # the chunk and its CRLF
            if size == 0:
                return


_LENGTH = re.compile(r"\r\ncontent-length:\s*(\d+)")


def request_bytes(method: str, path: str, headers: dict, body: str | None = None) -> bytes:
    """An HTTP/1.1 request as bytes (keep-alive)."""
    data = body.encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    if body is not None:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def _client(port, spec, deadline_start, deadline_end, worker_id, results):
    method, path, headers, post = spec
    fixed = request_bytes(method, path, headers) if post is None else None
    conn = Connection(port)
    latencies, errors, count = [], {}, 0
    while True:
        now = time.perf_counter()
        if now >= deadline_end or count >= 1_000_000:  # bounded by time and by count
            break
        payload = fixed if post is None else request_bytes(method, path, headers, post(worker_id, count))
        started = time.perf_counter()
        try:
            status = conn.exchange(payload)
            ok = status in (200, 302)
        except (OSError, ValueError) as error:
            ok, status = False, type(error).__name__
            conn.close()
        finished = time.perf_counter()
        count += 1
        if started >= deadline_start:  # after the warm-up
            if ok:
                latencies.append((finished - started) * 1000)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
    conn.close()
    results.append((latencies, errors, count))


def _load_process(port, spec, threads, start_at, warmup, seconds, process_no, queue):
    results: list = []
    # Wall-clock start shared by every process; perf_counter deadlines from it.
    time.sleep(max(0.0, start_at - time.time()))
    base = time.perf_counter()
    cpu = time.process_time()
    workers = [threading.Thread(target=_client, args=(port, spec, base + warmup, base + warmup + seconds,
                                                      process_no * 1000 + i, results)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((results, time.process_time() - cpu))


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
    sent, client_cpu = 0, 0.0
    for _ in children:
        results, cpu = queue.get(timeout=warmup + seconds + 120)
        client_cpu += cpu
        for values, failed, count in results:
            latencies.extend(values)
            sent += count
            for status, n in failed.items():
                errors[status] = errors.get(status, 0) + n
    for child in children:
        child.join(timeout=30)
    # The load generator's own CPU per request (warm-up included): what it took from the server's cores.
    client_us = round(client_cpu / sent * 1e6) if sent else None
    if not latencies:
        return {"rps": 0.0, "p50": None, "p95": None, "p99": None, "n": 0, "errors": errors, "client_us": client_us,
                "sent": sent}
    return {"rps": round(len(latencies) / seconds, 1), "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1), "p99": round(percentile(latencies, 99), 1),
            "n": len(latencies), "errors": errors, "client_us": client_us, "sent": sent}


def median_result(runs: list[dict]) -> dict:
    """One page's rounds as one result: the median of each figure, the errors summed."""
    def median(name):
        values = [run[name] for run in runs if run[name] is not None]
        return round(statistics.median(values), 3) if values else None

    errors: dict[str, int] = {}
    for run in runs:
        for status, n in run["errors"].items():
            errors[status] = errors.get(status, 0) + n
    return {**{name: median(name) for name in ("rps", "p50", "p95", "p99", "ratio", "client_us", "web_ms", "db_ms")},
            "n": sum(run["n"] for run in runs), "errors": errors, "load_before": runs[0]["load_before"],
            "rounds": [{name: run[name] for name in ("rps", "p95", "ratio", "web_ms", "db_ms")} for run in runs]}


# -- CPU spent by the server's processes ---------------------------------------------------------
# Throughput moves with the machine's speed (a shared host's can halve within minutes); the CPU a
# request costs the web processes and PostgreSQL moves less, and says where the time goes.
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """/proc/<pid>/stat as (command name, the fields after it: state, ppid, ...), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, rest = text.rsplit(")", 1)
    return head.split("(", 1)[1], rest.split()


def _processes():
    """(pid, command name, stat fields) of every process alive now."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            yield int(entry.name), *stat


def process_tree(root: int) -> list[int]:
    """`root` and every process descending from it (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for pid, _name, fields in _processes():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def named_processes(name: str) -> list[int]:
    """Every process whose command is `name` (PostgreSQL's server and its backends: "postgres")."""
    return [pid for pid, command, _fields in _processes() if command == name]


def cpu_of(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive."""
    spent = {}
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            spent[pid] = (int(stat[1][11]) + int(stat[1][12])) / _TICK
    return spent


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a process new since the first counts from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def load_average() -> str:
    """The machine's 1-minute load average (the benchmark is honest about a busy machine)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"
