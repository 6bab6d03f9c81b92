"""Benchmark batch initialise (T-3) and the score-entry and portal pages on PostgreSQL.

Usage: .venv/bin/python -m bench.teaching [--classes N] [--sessions N] [--students N] [--requests N]

A scratch database is created (and dropped at the end) on PG_ADMIN_URL's
server and built by the migrations. Default data: 5 classes × 200 sessions ×
60 students, so initialising all 1,000 sessions creates 60,000 study records.

* "ours": ``crm.teaching.services.initialise_records`` for every session plus its
  commit, as the bulk action runs it;
* "baseline": the same rows by one raw ``INSERT … SELECT … ON CONFLICT DO NOTHING``.

Between runs the records are deleted and the table vacuumed; each side runs
twice, alternating, and the best time of each counts. Then the score-entry page
of a 60-student session and the student portal of a student with 200 graded
sessions are requested through the app: p95 (ms, timed inside the server) and
SQL statements per request. Last line: JSON.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from bench.common import RequestMeter, percentile
from bench.reclaim import make_app, scratch_database

START = dt.date(2026, 3, 2)

BASELINE_SQL = """
INSERT INTO study_records (course_record_id, student_id, attendance, created_at)
SELECT DISTINCT cr.id, e.student_id, 'checked', now()
FROM course_records cr
JOIN enrollments e ON e.class_id = cr.class_id AND e.joined_on <= cr.held_on
     AND (e.left_on IS NULL OR e.left_on > cr.held_on)
WHERE cr.id = ANY(%(ids)s)
ON CONFLICT (course_record_id, student_id) DO NOTHING
"""


def fill(app, classes: int, sessions: int, students: int) -> dict:
    """Classes with a teacher, students enrolled from the start, and dated sessions (bulk inserts)."""
    import sqlalchemy as sa

    from crm.auth.models import Role, User
    from crm.extensions import db
    from crm.org.models import ClassList, Course, School
    from crm.sales import choices
    from crm.sales.models import Customer
    from crm.students.models import Enrollment, Student
    from crm.teaching.models import CourseRecord

    with app.app_context():
        roles = {r.name: r for r in db.session.scalars(sa.select(Role))}
        template = User(username="_", name="_")
        template.set_password("bench-pass-1")
        teacher = User(username="teacher", name="老师", kind=User.KIND_STAFF, password_hash=template.password_hash)
        teacher.roles = [roles["teacher"]]
        db.session.add(teacher)
        school, course = School(title="校区"), Course(name="课程")
        db.session.add_all([school, course])
        db.session.flush()
        class_ids, student_users = [], []
        for c in range(classes):
            klass = ClassList(school_id=school.id, course_id=course.id, semester=c + 1, price=19800, start_date=START)
            klass.teachers = [teacher]
            db.session.add(klass)
            db.session.flush()
            class_ids.append(klass.id)
            for s in range(students):
                n = c * students + s
                user = User(username=f"stu{n}", name=f"学生{n}", kind=User.KIND_STUDENT,
                            password_hash=template.password_hash)
                user.roles = [roles["student"]]
                lead = Customer(qq=str(500000000 + n), name=f"学生{n}", gender=1, source=1,
                                status=choices.ENROLLED, inquiry_date=START)
                db.session.add_all([user, lead])
                db.session.flush()
                student = Student(customer_id=lead.id, user_id=user.id)
                db.session.add(student)
                db.session.flush()
                db.session.add(Enrollment(student_id=student.id, class_id=klass.id, joined_on=START))
                student_users.append((user.username, student.id, klass.id))
        db.session.execute(sa.insert(CourseRecord), [
            {"class_id": class_id, "session_no": n + 1, "held_on": START + dt.timedelta(days=n),
             "title": f"第{n + 1}课", "has_homework": n % 2 == 0, "homework_title": "作业",
             "created_at": dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)}
            for class_id in class_ids for n in range(sessions)
        ])
        db.session.commit()
        session_ids = list(db.session.scalars(sa.select(CourseRecord.id).order_by(CourseRecord.id)))
        first_class_session = db.session.scalar(sa.select(CourseRecord.id).where(
            CourseRecord.class_id == class_ids[0]).order_by(CourseRecord.session_no.desc()).limit(1))
        db.session.remove()
    return {"session_ids": session_ids, "student": student_users[0], "score_session": first_class_session}


def reset(app) -> None:
    """Delete every study record and vacuum, so each run starts alike."""
    from crm.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("DELETE FROM study_records")
            conn.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE study_records")


def run_ours(app, session_ids) -> tuple[float, int]:
    """The service, as the bulk action calls it, plus the commit."""
    import sqlalchemy as sa

    from crm.auth.models import User
    from crm.core.clock import utcnow
    from crm.extensions import db
    from crm.teaching import services

    with app.app_context():
        teacher = db.session.scalar(sa.select(User).where(User.username == "teacher"))
        _ = teacher.roles  # loaded before the clock starts, as in a request
        started = time.perf_counter()
        added = services.initialise_records(teacher, session_ids, now=utcnow())
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed, added


def run_baseline(app, session_ids) -> tuple[float, int]:
    """One raw INSERT … SELECT … ON CONFLICT DO NOTHING."""
    from crm.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            started = time.perf_counter()
            cursor.execute(BASELINE_SQL, {"ids": session_ids})
            added = cursor.rowcount
            raw.commit()
            elapsed = time.perf_counter() - started
        finally:
            raw.close()
    return elapsed, added


def grade_everything(app) -> None:
    """Give every record a grade (a few label grades and absences) so the portal draws a full chart."""
    from crm.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE study_records SET grade = CASE WHEN mod(id, 17) = 0 THEN 'N/A' "
                "WHEN mod(id, 23) = 0 THEN 'COPY' "
                "ELSE 'B' END, score = CASE WHEN mod(id, 17) = 0 OR mod(id, 23) = 0 THEN NULL ELSE 80 END, "
                "attendance = CASE WHEN mod(id, 17) = 0 THEN 'vacate' ELSE 'checked' END")


def time_pages(app, pages: list[tuple[str, str, str]], requests: int) -> dict:
    """p95 and statements per request of each (name, username, path), timed inside the server."""

    from crm.extensions import db

    with app.app_context():
        engine = db.engine
    meter = RequestMeter(app, engine)
    summary = {}
    try:
        for name, username, path in pages:
            client = app.test_client()
            answer = client.post("/auth/login", data={"username": username, "password": "bench-pass-1"})
            assert answer.status_code == 302, answer.status_code
            timings = []
            for i in range(requests + 5):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                if i >= 5:
                    timings.append(meter.elapsed_ms)
            summary[name] = {"p95_ms": round(percentile(timings, 95), 2), "queries": meter.queries}
    finally:
        meter.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    """Build the data, time both initialisations and the pages, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args(argv)
    with scratch_database("teaching") as url:
        app = make_app(url)
        started = time.perf_counter()
        data = fill(app, args.classes, args.sessions, args.students)
        ids = data["session_ids"]
        expected = len(ids) * args.students
        print(f"data: {len(ids)} sessions × {args.students} students in {time.perf_counter() - started:.1f}s",
              flush=True)
        ours, baseline = [], []
        for _round in range(2):
            reset(app)
            elapsed, added = run_ours(app, ids)
            assert added == expected, (added, expected)
            ours.append(elapsed)
            reset(app)
            elapsed, added = run_baseline(app, ids)
            assert added == expected, (added, expected)
            baseline.append(elapsed)
            print(f"round: ours {ours[-1]:.3f}s  baseline {baseline[-1]:.3f}s", flush=True)
        # A second run of the service adds nothing (idempotent) and is cheap.
        again, added = run_ours(app, ids)
        assert added == 0
        print(f"second initialise of the same sessions: {again:.3f}s, 0 rows", flush=True)

        grade_everything(app)
        username, student_id, _class_id = data["student"]
        pages = time_pages(app, [
            ("score_entry", "teacher", f"/teaching/sessions/{data['score_session']}/scores"),
            ("portal_student", username, "/teaching/portal"),
            ("portal_teacher", "teacher", f"/teaching/students/{student_id}/"),
        ], args.requests)
        for name, figures in pages.items():
            print(f"{name:<16} p95 {figures['p95_ms']:8.2f} ms  queries {figures['queries']}")
        with app.app_context():
            from crm.extensions import db

            db.engine.dispose()
        best_ours, best_baseline = min(ours), min(baseline)
        print(json.dumps({"bench": "teaching", "unit": "s", "ours": round(best_ours, 3),
                          "baseline": round(best_baseline, 3), "ratio": round(best_ours / best_baseline, 2),
                          "n": expected, "pages": pages}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
