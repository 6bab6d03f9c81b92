"""Profile the import job in-process on PostgreSQL: where a 100,000-row file's time goes.

Usage: .venv/bin/python -m bench.import_profile [--rows 100000] [--batch 2000] [--top 40] [--no-profile]

The workbook and the data are those of bench/import.py (5 % invalid, 5 % duplicates); the job is
created as the confirm POST creates it and run by `run_import` in this process (no worker, no
Redis round trip for the task). Prints the wall and CPU time of the job (and of the upload checks,
the preview and the confirm's own checks), then cProfile's top functions by cumulative and by own
time. The database is a scratch one on PG_ADMIN_URL's server, dropped at the end.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("CRM_ENV", "testing")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

bench_import = __import__("bench.import", fromlist=["generate"])  # `import` is a keyword


def timed(label: str, function, *args, **kwargs):
    """Run `function`, print its wall and CPU time, return its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Generate, seed, create the job, run it (profiled), print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--no-profile", action="store_true", help="time only (cProfile adds its own overhead)")
    args = parser.parse_args(argv)
    admin = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
    work = Path(tempfile.mkdtemp(prefix="crm-import-profile-"))
    try:
        path = work / "leads.xlsx"
        existing, expected = timed("generate", bench_import.generate, path, args.rows)
        with scratch_postgres(admin, "profile") as url:
            prefix = f"crm-import-profile-{uuid.uuid4().hex[:6]}"
            config = bench_import.app_config(url, prefix, work / "imports", args.batch)
            app = bench_import.make_app(config)
            bench_import.seed(app, existing)
            run(app, path, expected, args, url)
            with app.app_context():
                from crm.extensions import db

                db.session.remove()
                db.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each server process connected to the database of `url`."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def run(app, source: Path, expected: dict, args, url: str) -> None:
    """The upload checks, the preview, the job's creation and the job itself, timed."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.sales.imports.tasks import run_import
    from crm.sales.imports.workbook import check_upload, create_job, import_dir, preview_rows

    with app.test_request_context():
        upload = import_dir() / f"upload-{uuid.uuid4().hex}.xlsx"
        shutil.copyfile(source, upload)
        info = timed("upload checks", check_upload, upload, "leads.xlsx")
        timed("preview rows", preview_rows, upload, info)
        actor = db.session.scalar(db.select(User.id).where(User.username == "bench-importer"))
        job = timed("confirm: create_job", create_job, upload, "leads.xlsx", actor, sheet=info.sheet_name,
                    header_row=info.header_row, ignore_unknown=True)
        db.session.commit()
        job_id = job.id
        db.session.remove()
        from crm.sales.imports import runner

        written = {"s": 0.0}
        real_write = runner.write_error_workbook

        def write_error_workbook(*args, **kwargs):
            started = time.perf_counter()
            real_write(*args, **kwargs)
            written["s"] += time.perf_counter() - started

        runner.write_error_workbook = write_error_workbook
        threads = {"saving": 0.0, "reading": 0.0, "saving_wall": 0.0, "waiting": 0.0}
        real_commit, real_batches, real_ahead = (runner.ImportRunner.commit_batch, runner.parsed_batches,
                                                 runner.read_ahead)

        def commit_batch(self, batch):
            started, wall_started = time.thread_time(), time.perf_counter()
            try:
                return real_commit(self, batch)
            finally:
                threads["saving"] += time.thread_time() - started
                threads["saving_wall"] += time.perf_counter() - wall_started

        def parsed_batches(*args, **kwargs):
            batches = real_batches(*args, **kwargs)
            while True:
                started = time.thread_time()
                batch = next(batches, None)
                threads["reading"] += time.thread_time() - started
                if batch is None:
                    return
                yield batch

        def read_ahead(*args, **kwargs):  # the reading happens in a child: count the wait for it
            batches = real_ahead(*args, **kwargs)
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                threads["waiting"] += time.perf_counter() - started
                if batch is None:
                    return
                yield batch

        runner.ImportRunner.commit_batch, runner.parsed_batches = commit_batch, parsed_batches
        runner.read_ahead = read_ahead
        profiler = None if args.no_profile else cProfile.Profile()
        backends = backend_cpu(url)
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        job = run_import(job_id)
        if profiler:
            profiler.disable()
        print(f"job: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU "
              f"(batch {args.batch}); imported {job.imported}, invalid {job.invalid}, duplicates {job.duplicates}; "
              f"expected {expected}; of which the error workbook (after 'done') {written['s']:.2f} s", flush=True)
        used = {pid: seconds - backends.get(pid, 0.0) for pid, seconds in backend_cpu(url).items()}
        print(f"PostgreSQL backends' CPU during the job: {sum(used.values()):.2f} s; CPU of the batches' saving "
              f"{threads['saving']:.2f} s (wall {threads['saving_wall']:.2f} s), of reading and parsing in this "
              f"process {threads['reading']:.2f} s; waiting for the reading process {threads['waiting']:.2f} s",
              flush=True)
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.print_callees("_commit_batch|_insert_rows|bulk_insert")
            print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
