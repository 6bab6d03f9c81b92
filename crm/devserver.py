"""`make run`: start web, worker and beat under honcho, with a private Redis if needed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from crm.devredis import answers, start_private_redis

ROOT = Path(__file__).resolve().parent.parent


def _stop_on_sigterm(_signum, _frame) -> None:
    """Treat SIGTERM (a supervisor, `timeout`) like Ctrl-C, so children and Redis stop too."""
    raise KeyboardInterrupt


# Prepared after Redis answers, so seeding can reach it (the allocation table's change mark).
SETUP_COMMANDS = (("db", "upgrade", "heads"), ("crm", "sync-rbac"), ("crm", "seed-demo"))


def prepare(env: dict[str, str]) -> None:
    """Migrate, sync the roles and seed the demo data with the Redis the processes will use."""
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for command in SETUP_COMMANDS:
        subprocess.run([*flask, *command], env=env, cwd=ROOT, check=True)


def main() -> int:
    """Run the Procfile; start a private redis-server first when REDIS_URL does not answer.

    Ctrl-C (or SIGTERM) stops every process and ends with status 0: stopping is the normal end.
    """
    env = dict(os.environ)
    url = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    private = None
    if answers(url):
        print(f"Using Redis at {url}")
    else:
        port = int(env.get("CRM_PRIVATE_REDIS_PORT", "6390"))
        url, private = start_private_redis(ROOT / "instance" / "redis", port)
        print(f"No Redis answered; started a private redis-server at {url}")
    env["REDIS_URL"] = url
    # The Procfile names gunicorn and celery; find them next to this interpreter (the venv).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    try:
        prepare(env)
    except (subprocess.CalledProcessError, KeyboardInterrupt):
        _stop_redis(private)
        raise
    port = env.get("CRM_PORT", "5000")
    print(f"\nCampus CRM: http://127.0.0.1:{port}/  (demo accounts: see README, password demo1234)\n")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile")], env=env, cwd=ROOT
    )
    try:
        code = honcho.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to every process already; a second Ctrl-C must not
        # interrupt the orderly stop with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        honcho.send_signal(signal.SIGINT)
        honcho.wait()
        code = 0
    finally:
        _stop_redis(private)
    return code


def _stop_redis(private) -> None:
    if private is not None:
        private.terminate()
        private.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
