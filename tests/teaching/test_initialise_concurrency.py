"""Two teachers initialising the same sessions at once create each record once (T-3, §6)."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from crm.core.clock import utcnow
from crm.extensions import db
from crm.teaching import services
from crm.teaching.models import StudyRecord
from tests.teaching.helpers import START, make_session, make_setup, make_student, make_user


@pytest.mark.committing
def test_concurrent_initialise_creates_no_duplicates(app, clean_database):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers: real concurrency is proven on PostgreSQL (make test-pg)")
        setup = make_setup()
        second_teacher = make_user("teacher")
        setup.klass.teachers.append(second_teacher)
        db.session.commit()
        sessions = [make_session(setup.klass, n) for n in range(1, 11)]
        for _ in range(20):
            make_student(setup.klass, joined_on=START)
        session_ids = [s.id for s in sessions]
        actors = [setup.teacher.id, second_teacher.id] * 3
        db.session.remove()

    barrier = threading.Barrier(len(actors))
    added, errors = [], []

    def run(actor_id):
        try:
            with app.app_context():
                from crm.auth.models import User

                actor = db.session.get(User, actor_id)
                barrier.wait(timeout=30)
                added.append(services.initialise_records(actor, session_ids, now=utcnow()))
                db.session.commit()
                db.session.remove()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=run, args=(actor_id,)) for actor_id in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(added) == 200
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(StudyRecord))
        distinct = db.session.execute(sa.select(StudyRecord.course_record_id, StudyRecord.student_id).distinct()).all()
        db.session.remove()
    assert total == 200 and len(distinct) == 200
