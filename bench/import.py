"""Benchmark the Excel lead import (S-9) end to end on PostgreSQL with a real Celery worker.

Usage: .venv/bin/python -m bench.import [--rows 100000] [--batch 2000]

A 100,000-row workbook with every template column is generated (5 % invalid
rows, 5 % duplicates: half repeated inside the file, half already in the
database). The database is BENCH_DATABASE_URL, or a scratch database created
on PG_ADMIN_URL's server (dropped at the end). A `celery -A worker worker`
subprocess runs the job.

ours     = from the confirmed preview (the POST answered with the job page) until the job is done;
baseline = the physical floor measured in the same run: the fastest available read of the file
           (openpyxl read_only, the import's own lean reader, or python-calamine when installed)
           plus a raw COPY of the same rows into a scratch table. Both parts are printed.
The worker's peak RSS, with its reading process's own memory, is sampled with psutil. Last line: the JSON summary.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psutil

from bench.common import delete_prefix, scratch_postgres
from crm.celery_app import queue_name

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
COURSES = ["Python 全栈开发", "Go 高级开发", "Java 架构师", "前端开发"]
CONSULTANTS = 20
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


@contextmanager
def bench_database():
    """BENCH_DATABASE_URL, or a scratch database dropped at the end."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    with scratch_postgres(ADMIN_URL, "import") as scratch_url:
        yield scratch_url


def app_config(url: str, prefix: str, import_dir: Path, batch: int) -> dict:
    """Flask config shared by this process and the worker (via the environment)."""
    return {
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
        "CRM_REDIS_PREFIX": prefix, "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench",
        "CRM_IMPORT_DIR": str(import_dir), "CRM_IMPORT_BATCH_SIZE": batch,
    }


def make_app(config: dict):
    """The application with the schema built by the migrations, consultants and courses."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.auth.services import seed_departments, sync_rbac
    from crm.extensions import db

    app = create_app(config)
    with app.app_context():
        upgrade(revision="heads")
        sync_rbac()
        seed_departments()
        db.session.commit()
    return app


def seed(app, existing_qqs: list[str]) -> str:
    """Courses, consultants in the allocation table, an importer, and the leads already in the database."""
    from crm.auth.models import Role, User
    from crm.extensions import db
    from crm.org.models import Course
    from crm.sales.models import Customer, SaleRank

    with app.app_context():
        db.session.add_all(Course(name=name) for name in COURSES)
        consultant = db.session.scalar(db.select(Role).where(Role.name == "consultant"))
        staff = db.session.scalar(db.select(Role).where(Role.name == "staff"))
        for i in range(CONSULTANTS):
            user = User(username=f"bench{i}", name=f"顾问{i}", kind="staff", email=f"bench{i}@example.com",
                        must_change_password=False)
            user.set_password("bench-pass-1")
            user.roles = [consultant]
            db.session.add(user)
            db.session.flush()
            db.session.add(SaleRank(user_id=user.id, num=1 + i % 3, weight=i))
        importer = User(username="bench-importer", name="导入员", kind="staff", must_change_password=False)
        importer.set_password("bench-pass-1")
        importer.roles = [staff]
        db.session.add(importer)
        db.session.execute(db.insert(Customer), [
            {"qq": qq, "name": "老客户", "gender": 1, "source": 3, "status": 1, "inquiry_date": dt.date(2025, 1, 1),
             "channel": "form", "pool_reason": 1} for qq in existing_qqs])
        db.session.commit()
    return "bench-importer"


def generate(path: Path, rows: int, seed_value: int = 7) -> tuple[list[str], dict]:
    """Write the workbook; returns the QQs to pre-insert and the expected counts."""
    from openpyxl import Workbook

    from crm.sales import choices
    from crm.sales.imports.columns import COLUMNS

    rng = random.Random(seed_value)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户 Leads")
    ws.append([column.header for column in COLUMNS])
    keys = [column.key for column in COLUMNS]
    invalid_every, duplicate_every = 20, 20  # 5 % each
    existing, written_qqs = [], []
    expected = {"imported": 0, "invalid": 0, "duplicates": 0}
    bad_values = [
        {"gender": "未知"}, {"qq": "abc123"}, {"qq": "1.2345E+9"}, {"name": None}, {"email": "not-an-email"},
        {"courses": "Rust 入门"}, {"inquiry_date": "下周"}, {"source": "抖音"}, {"phone": "12"},
    ]
    for n in range(rows):
        qq = str(100_000_000 + n * 7 + 3)
        row = {
            "qq": qq, "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            "gender": rng.choice(list(choices.GENDER.values())), "source": rng.choice(list(choices.SOURCE.values())),
            "phone": f"1{rng.choice('3456789')}{n:09d}" if n % 2 else None,
            "email": f"lead{n}@example.com" if n % 3 else None,
            "courses": ";".join(rng.sample(COURSES, rng.randint(0, 2))) or None,
            "education": rng.choice(list(choices.EDUCATION.values())), "graduation_school": "某某大学",
            "major": "计算机科学", "experience": rng.choice(list(choices.EXPERIENCE.values())),
            "work_status": rng.choice(list(choices.WORK_STATUS.values())), "company": "某某科技有限公司",
            "salary": str(rng.randint(3, 30) * 1000), "referrer_qq": None,
            "inquiry_date": dt.date(2025, 1, 1) + dt.timedelta(days=n % 300), "memo": f"第 {n} 行",
        }
        if n % invalid_every == 7:
            row.update(bad_values[(n // invalid_every) % len(bad_values)])
            expected["invalid"] += 1
        elif n % duplicate_every == 11:
            if n % (2 * duplicate_every) == 11 and written_qqs:
                row.update(qq=rng.choice(written_qqs), phone=None, email=None)  # repeated in the file
            else:
                existing.append(qq)  # already in the database
            expected["duplicates"] += 1
        else:
            expected["imported"] += 1
            written_qqs.append(qq)
        ws.append([row[key] for key in keys])
    wb.save(path)
    return existing, expected


def iterate_openpyxl(path: Path) -> tuple[float, int]:
    """The baseline: stream every row with openpyxl read_only."""
    from openpyxl import load_workbook

    started = time.perf_counter()
    wb = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in wb.worksheets[0].iter_rows(min_row=2, values_only=True))
    wb.close()
    return time.perf_counter() - started, count


def iterate_lean(path: Path) -> tuple[float, int]:
    """The same iteration with the import's own lean reader (crm.core.xlsx_rows.iter_values)."""
    from crm.core.xlsx import open_sheet, scan_sheet
    from crm.core.xlsx_rows import iter_values

    started = time.perf_counter()
    wb, sheet, _names = open_sheet(path)
    last = scan_sheet(path, sheet).last_row
    count = sum(1 for _ in iter_values(path, sheet, min_row=2, max_row=last, max_col=17))
    wb.close()
    return time.perf_counter() - started, count


def iterate_calamine(path: Path) -> tuple[float, int] | None:
    """The same iteration with python-calamine, when it is installed."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        return None
    started = time.perf_counter()
    wb = CalamineWorkbook.from_path(str(path))
    sheet = wb.get_sheet_by_index(0)
    count = sum(1 for _ in sheet.iter_rows()) - 1
    return time.perf_counter() - started, count


def copy_rows(url: str, path: Path) -> float:
    """The insert half of the floor: COPY the sheet's rows as text into a scratch table (dropped after)."""
    import psycopg
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    rows = [["" if value is None else str(value) for value in row]
            for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True)]
    wb.close()
    width = max(len(row) for row in rows)
    columns = ", ".join(f"c{i} text" for i in range(width))
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE bench_floor (id serial primary key, {columns})")
        try:
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(
                    f"COPY bench_floor ({', '.join(f'c{i}' for i in range(width))}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + [""] * (width - len(row)))
            conn.commit()
            elapsed = time.perf_counter() - started
        finally:
            conn.execute("DROP TABLE IF EXISTS bench_floor")
            conn.commit()
    return elapsed


def start_worker(config: dict, env_base: dict) -> subprocess.Popen:
    """`celery -A worker worker` configured through the environment."""
    env = dict(env_base)
    env.update({
        "CRM_ENV": "testing", "SECRET_KEY": "bench", "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": REDIS_URL, "CRM_REDIS_PREFIX": config["CRM_REDIS_PREFIX"],
        "CRM_IMPORT_DIR": config["CRM_IMPORT_DIR"], "CRM_IMPORT_BATCH_SIZE": str(config["CRM_IMPORT_BATCH_SIZE"]),
    })
    queue = queue_name(config["CRM_REDIS_PREFIX"])  # the queue the app and this worker (same prefix) use
    log = open(Path(config["CRM_IMPORT_DIR"]).parent / "worker.log", "wb")  # noqa: SIM115 (lives with the worker)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool=solo", "--concurrency=1", "-Q", queue,
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "-n", f"bench@{queue}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


class PeakRss(threading.Thread):
    """Samples a process's resident memory every 50 ms and, every 0.5 s, its children's own memory (the
    reading process the import forks: its unique set, as the pages it shares with the worker are counted
    once; reading it walks the child's page tables, so it is sampled less often: the child holds the
    workbook for the whole job)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0  # the worker alone
        self.peak_total = 0  # the worker and its children
        self.running = True

    def run(self):
        own, tick = 0, 0
        while self.running:
            try:
                rss = self.process.memory_info().rss
                children = self.process.children(recursive=True) if tick % 10 == 0 else None
            except psutil.Error:
                return
            if children is not None:
                own = 0
                for child in children:
                    try:
                        own += child.memory_full_info().uss
                    except psutil.Error:
                        continue  # ended meanwhile
            self.peak = max(self.peak, rss)
            self.peak_total = max(self.peak_total, rss + own)
            tick += 1
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("CRM_ENV", "testing")
    os.environ.setdefault("REDIS_URL", REDIS_URL)
    work = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    try:
        measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def measure(args, work: Path) -> None:
    """Generate the workbook in `work`, import it through the pages and the worker, measure the floor, print."""
    path = work / "leads.xlsx"
    started = time.perf_counter()
    existing, expected = generate(path, args.rows)
    print(f"generated {args.rows} rows ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s",
          flush=True)

    with bench_database() as url:
        prefix = f"crm-bench-import-{uuid.uuid4().hex[:6]}"
        config = app_config(url, prefix, work / "imports", args.batch)
        app = make_app(config)
        importer = seed(app, existing)
        worker = start_worker(config, dict(os.environ))
        try:
            celery_app = app.extensions["celery"]
            deadline = time.monotonic() + 60
            while not celery_app.control.ping(timeout=0.5, destination=[f"bench@{queue_name(prefix)}"]):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit("the Celery worker did not start; see " + str(work / "worker.log"))
            sampler = PeakRss(worker.pid)
            sampler.start()
            client = app.test_client()
            client.post("/auth/login", data={"username": importer, "password": "bench-pass-1"})
            posted = time.perf_counter()
            response = client.post("/sales/imports/new", content_type="multipart/form-data",
                                   data={"file": (io.BytesIO(path.read_bytes()), "bench.xlsx")})
            if response.status_code != 302:
                raise SystemExit(f"upload refused ({response.status_code}): {response.get_data(as_text=True)[:500]}")
            previewed = time.perf_counter()
            client.get(response.headers["Location"])  # the preview page, as a user sees it
            response = client.post(response.headers["Location"], data={})  # confirmed with the defaults
            accepted = time.perf_counter()
            if response.status_code != 302:
                raise SystemExit(f"preview refused ({response.status_code}): {response.get_data(as_text=True)[:500]}")
            job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
            from crm.extensions import db
            from crm.sales.models import ImportJob

            while True:
                with app.app_context():
                    job = db.session.get(ImportJob, job_id)
                    status, counts = job.status, (job.imported, job.invalid, job.duplicates, job.unassigned)
                    message = job.message
                if status in ("done", "failed"):
                    break
                if worker.poll() is not None:
                    raise SystemExit("the worker died; see " + str(work / "worker.log"))
                time.sleep(0.05)
            done = time.perf_counter()
            sampler.running = False
            sampler.join()
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            delete_prefix(REDIS_URL, prefix)  # the run's keys and its Celery queue
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if status != "done":
            raise SystemExit(f"import failed: {message}")
        got = dict(zip(("imported", "invalid", "duplicates", "unassigned"), counts))
        print(f"upload check + store: {previewed - posted:.2f} s; preview + confirm: {accepted - previewed:.2f} s; "
              f"job: {got}; expected {expected}")
        if (got["imported"], got["invalid"], got["duplicates"]) != (
                expected["imported"], expected["invalid"], expected["duplicates"]):
            raise SystemExit("counts differ from the generated file")

        ours = done - accepted
        read, rows = iterate_openpyxl(path)
        assert rows == args.rows
        reader = "openpyxl read_only"
        for name, timed in (("python-calamine", iterate_calamine(path)), ("crm.core.xlsx_rows.iter_values",
                                                                          iterate_lean(path))):
            if timed:
                assert timed[1] == args.rows
                print(f"read with {name}: {timed[0]:.2f} s")
                if timed[0] < read:
                    read, reader = timed[0], name
        copy = copy_rows(url, path)
    baseline = read + copy
    print(f"ours: {ours:.2f} s ({args.rows / ours:,.0f} rows/s), worker peak RSS {sampler.peak / 2**20:.0f} MB, "
          f"with its reading process {sampler.peak_total / 2**20:.0f} MB; "
          f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"floor: fastest read ({reader}) {read:.2f} s + raw COPY of the same rows {copy:.2f} s = {baseline:.2f} s")
    print(json.dumps({"bench": "import", "unit": "s", "ours": round(ours, 3), "baseline": round(baseline, 3),
                      "ratio": round(ours / baseline, 3), "n": args.rows, "read": round(read, 3),
                      "copy": round(copy, 3), "peak_rss_mb": round(sampler.peak_total / 2**20),
                      "worker_rss_mb": round(sampler.peak / 2**20)}))


if __name__ == "__main__":
    sys.exit(main())
