"""Benchmark the survey results page (Q-4): 10 questions answered by 2,000 students, on PostgreSQL.

Usage: .venv/bin/python -m bench.surveys [--students N] [--requests N]

A scratch database is created (and dropped at the end) next to PG_ADMIN_URL's,
built by the migrations; one class gets N students and a survey of 10 questions
(6 scores, 3 single choices, 1 text) that every student answered. The results
page is requested through the app, signed in as the class tutor; the time is
measured inside the server (first before-request hook → teardown) and the SQL
statements per request are counted. /healthz runs in the same process as the
baseline. "ours" is the results page's p95, "baseline" /healthz's p95.
The query count must not depend on N (aggregates run in SQL). Last line: JSON.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import sys
import time

from bench.common import (
    RequestMeter,
    bench_redis_url,
    delete_prefix,
    emit,
    make_app,
    percentile,
    scratch_postgres,
    unique_prefix,
)

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")
PASSWORD = "bench-pass-1"


def fill(students: int) -> int:
    """A tutored class with `students` students and a fully answered 10-question survey; returns its id."""
    import sqlalchemy as sa

    from crm.auth.models import Role, User, user_roles
    from crm.core.clock import utcnow
    from crm.extensions import db
    from crm.org.models import ClassList, Course, School
    from crm.sales.models import Customer
    from crm.students.models import Enrollment, Student
    from crm.surveys.models import Answer, Participation, Response
    from crm.surveys.services import OptionData, QuestionData, SurveyData, create_survey, publish_survey

    tutor = User(username="benchtutor", name="Bench tutor", kind="staff")
    tutor.set_password(PASSWORD)
    tutor.roles = list(db.session.scalars(sa.select(Role).where(Role.name == "tutor")))
    school, course = School(title="Bench campus"), Course(name="Bench course")
    db.session.add_all([tutor, school, course])
    db.session.flush()
    klass = ClassList(school_id=school.id, course_id=course.id, semester=1, price=1, start_date=dt.date(2026, 1, 1),
                      tutor_id=tutor.id)
    db.session.add(klass)
    db.session.flush()
    student_role = db.session.scalar(sa.select(Role.id).where(Role.name == "student"))
    hash_ = tutor.password_hash
    user_ids = db.session.scalars(sa.insert(User).returning(User.id, sort_by_parameter_order=True), [
        {"username": f"benchstu{i}", "name": f"学生{i}", "kind": "student", "password_hash": hash_}
        for i in range(students)]).all()
    db.session.execute(sa.insert(user_roles), [{"user_id": u, "role_id": student_role} for u in user_ids])
    lead_ids = db.session.scalars(sa.insert(Customer).returning(Customer.id, sort_by_parameter_order=True), [
        {"qq": str(700000000 + i), "name": f"学生{i}", "gender": 1, "source": 1, "status": 2,
         "inquiry_date": dt.date(2026, 1, 1), "channel": "demo"} for i in range(students)]).all()
    student_ids = db.session.scalars(sa.insert(Student).returning(Student.id, sort_by_parameter_order=True), [
        {"customer_id": c, "user_id": u} for c, u in zip(lead_ids, user_ids)]).all()
    db.session.execute(sa.insert(Enrollment), [
        {"student_id": s, "class_id": klass.id, "joined_on": dt.date(2026, 1, 1)} for s in student_ids])
    now = utcnow()
    choice = [OptionData(None, label, score) for label, score in (("差", 1), ("一般", 2), ("好", 3), ("很好", 4))]
    questions = [QuestionData(None, "score", f"打分题 {n}") for n in range(6)]
    questions += [QuestionData(None, "choice", f"单选题 {n}", list(choice)) for n in range(3)]
    questions.append(QuestionData(None, "text", "建议"))
    survey = create_survey(tutor, klass.id, SurveyData("Bench survey", now - dt.timedelta(days=1),
                                                       now + dt.timedelta(days=5), False, questions),
                           now=now - dt.timedelta(days=1))
    publish_survey(tutor, survey.id, now=now - dt.timedelta(days=1))
    rng = random.Random(2000)
    keys = [secrets.token_hex(16) for _ in student_ids]
    db.session.execute(sa.insert(Participation), [
        {"survey_id": survey.id, "student_id": s, "answered_at": now} for s in student_ids])
    db.session.execute(sa.insert(Response), [
        {"key": k, "survey_id": survey.id, "student_id": s} for k, s in zip(keys, student_ids)])
    rows = []
    for key in keys:
        for question in survey.questions:
            row = {"response_key": key, "question_id": question.id, "survey_id": survey.id,
                   "score": None, "option_id": None, "text": None}
            if question.kind == "score":
                row["score"] = rng.randint(1, 10)
            elif question.kind == "choice":
                row["option_id"] = rng.choice(question.options).id
            else:
                row["text"] = "课程内容很充实，老师讲解细致，希望增加练习。" + str(rng.randint(0, 99))
            rows.append(row)
    db.session.execute(sa.insert(Answer), rows)
    survey.answer_count = students
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return survey.id


def main(argv: list[str] | None = None) -> int:
    """Build the data, time the results page and /healthz, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)

    from crm.extensions import db

    prefix = unique_prefix("surveys")
    with bench_redis_url() as redis_url, scratch_postgres(ADMIN_URL, "surveys") as url:
        app = make_app(url, redis_url, prefix, migrate=True, WTF_CSRF_ENABLED=False)
        started = time.perf_counter()
        with app.app_context():
            survey_id = fill(args.students)
            engine = db.engine
        print(f"data: {args.students} students answered 10 questions in {time.perf_counter() - started:.1f}s",
              flush=True)

        meter = RequestMeter(app, engine)

        client = app.test_client()
        login = client.post("/auth/login", data={"username": "benchtutor", "password": PASSWORD})
        assert login.status_code == 302, login.status_code
        pages = [("healthz", "/healthz"), ("results", f"/surveys/{survey_id}/results")]
        timings: dict[str, list[float]] = {key: [] for key, _ in pages}
        queries: dict[str, int] = {}
        for i in range(args.requests + 5):
            for key, path in pages:  # alternate, so load drift hits both alike
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                if i >= 5:
                    timings[key].append(meter.elapsed_ms)
                    queries[key] = meter.queries
        meter.close()
        with app.app_context():
            db.engine.dispose()
        delete_prefix(redis_url, prefix)

    summary = {key: {"median_ms": round(statistics.median(values), 2), "p95_ms": round(percentile(values, 95), 2),
                     "queries": queries[key]} for key, values in timings.items()}
    for key, path in pages:
        print(f"{key:<8} {path:<24} median {summary[key]['median_ms']:7.2f} ms  p95 {summary[key]['p95_ms']:7.2f} ms  "
              f"queries {summary[key]['queries']}")
    ours, baseline = summary["results"]["p95_ms"], summary["healthz"]["p95_ms"]
    emit({"bench": "surveys", "unit": "ms (p95)", "ours": ours, "baseline": baseline,
          "ratio": round(ours / baseline, 2) if baseline else None, "n": args.students,
          "queries": summary["results"]["queries"], "pages": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
