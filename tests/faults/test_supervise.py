"""`make run` restarts a worker that exits (17.1): crm.supervise with a real child process."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_process_that_exits_is_started_again_and_sigterm_ends_the_loop(tmp_path):
    starts = tmp_path / "starts"
    child = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(1)"
    supervisor = subprocess.Popen([sys.executable, "-m", "crm.supervise", sys.executable, "-c", child], cwd=ROOT,
                                  stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not starts.exists() or len(starts.read_text()) < 2):
            time.sleep(0.1)
        assert starts.exists() and len(starts.read_text()) >= 2  # it died and was started again
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) is not None
        assert b"starting it again" in supervisor.stderr.read()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)
        supervisor.stderr.close()


def test_make_run_supervises_the_worker_and_beat():
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines["worker"].split()[:3] == ["python", "-m", "crm.supervise"]
    assert lines["beat"].split()[:3] == ["python", "-m", "crm.supervise"]
