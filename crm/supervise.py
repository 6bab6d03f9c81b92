"""`python -m crm.supervise CMD ...`: run CMD and start it again whenever it exits (used by `make run`).

honcho stops every process as soon as one exits, so a Celery worker that dies (a crash, an
"Unrecoverable error") would take the whole development stack down, or in older setups leave it
running without a worker. Production uses the service manager for the same job (docs/deploy.md:
systemd `Restart=always`). SIGTERM / SIGINT are passed on to CMD and end the loop.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

RESTART_DELAY_SECONDS = 2.0
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0  # a run this long resets the delay


def supervise(command: list[str], *, delay: float = RESTART_DELAY_SECONDS) -> int:
    """Run `command` until asked to stop; restart it (with growing delay) each time it exits on its own."""
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait = delay
    code = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            break
        wait = delay if time.monotonic() - started > STABLE_AFTER_SECONDS else min(wait * 2, MAX_RESTART_DELAY_SECONDS)
        print(f"[supervise] {command[0]} exited with {code}; starting it again in {wait:.0f} s",
              file=sys.stderr, flush=True)
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    return code


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m crm.supervise COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return supervise(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
