"""`make run` console: each log line once; seeding after Redis answers; Ctrl-C ends with status 0."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask.logging import default_handler

ROOT = Path(__file__).resolve().parent.parent.parent


def test_outside_tests_app_logs_go_to_the_root_handler_only(build_app):
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        other = build_app(TESTING=False)
        assert default_handler not in other.logger.handlers  # else crm.* lines print twice under Celery
        assert root.handlers  # one place prints them
    finally:
        for handler in list(root.handlers):
            if handler not in saved:
                root.removeHandler(handler)


def test_the_devserver_prepares_the_database_after_redis_and_stops_with_status_0(tmp_path):
    """Ctrl-C during the run ends the devserver with 0 (make prints no 'Error 130')."""
    script = tmp_path / "fake_honcho.py"
    script.write_text("import time\nwhile True:\n    time.sleep(0.1)\n")
    code = (
        "import subprocess, sys\n"
        "from crm import devserver\n"
        "devserver.answers = lambda url: True\n"
        "devserver.prepare = lambda env: print('prepared', env['REDIS_URL'], flush=True)\n"
        "real = subprocess.Popen\n"
        f"devserver.subprocess.Popen = lambda *a, **k: real([sys.executable, {str(script)!r}])\n"
        "sys.exit(devserver.main())\n"
    )
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6399/0"}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with process.stdout:
        line = process.stdout.readline()
        while line and "prepared" not in line:
            line = process.stdout.readline()
        assert "prepared redis://127.0.0.1:6399/0" in line
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
