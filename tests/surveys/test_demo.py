"""seed-demo's survey part: one open, shared survey of a demo class with some answers from its students."""
from __future__ import annotations

import sqlalchemy as sa

from crm.core import clock
from crm.demo import seed_demo
from crm.extensions import db
from crm.students.services import enrolled_on
from crm.surveys import answering, results
from crm.surveys.models import Participation, Survey


def test_seed_demo_adds_an_open_survey_with_answers():
    assert seed_demo(password="demo-pass-1") is True
    surveys = list(db.session.scalars(sa.select(Survey)))
    assert len(surveys) == 1
    survey = surveys[0]
    now = clock.utcnow()
    assert survey.is_open(now) and not survey.is_draft
    members = {s.id for s in enrolled_on(survey.class_id, clock.today())}
    answered = set(db.session.scalars(sa.select(Participation.student_id).where(Participation.survey_id == survey.id)))
    assert answered and answered < members  # some answered, at least one is still waiting
    assert survey.answer_count == len(answered)
    assert {q.kind for q in answering.questions_of(survey.id)} == {"score", "choice", "text"}
    outcome = results.survey_results(survey, now=now)
    assert outcome.answered == len(answered) and outcome.class_size == len(members)
    assert survey.class_list.tutor_id == survey.creator_id
