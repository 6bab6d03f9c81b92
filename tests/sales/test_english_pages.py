"""English labels of the sales pages that a CJK scan cannot judge (the whole-app walk: tests/test_english_pages.py)."""
from __future__ import annotations


def test_the_job_start_date_is_not_called_the_class_start_date(client):
    from crm.sales.payments.views import StudentForm

    assert str(StudentForm.placement_date.args[0]) == "入职日期"  # not 开班日期 (a class's start date)
