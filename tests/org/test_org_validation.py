"""Bad input on the org forms: clear messages, nothing written, never a 500 (P-4)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.auth.models import Department
from crm.extensions import db
from crm.org.models import ClassList, Course, School
from tests.factories import make_class, make_course, make_school


def count(model) -> int:
    """Rows in a table."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("title, message", [
    ("", "Enter the school&#39;s title."),
    ("    ", "Enter the school&#39;s title."),
    ("长" * 65, "At most 64 characters."),
])
def test_bad_school_titles_are_refused(admin_client, title, message):
    before = count(School)
    response = admin_client.post("/org/schools/new/", data={"title": title})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert count(School) == before


def test_duplicate_school_and_course_names_are_field_errors(admin_client):
    make_school("重名校区")
    make_course("重名课程")
    response = admin_client.post("/org/schools/new/", data={"title": "重名校区"})
    assert "A school with this title already exists." in response.get_data(as_text=True)
    response = admin_client.post("/org/courses/new/", data={"name": "  重名课程 "})
    assert "A course with this name already exists." in response.get_data(as_text=True)
    assert count(School) == 1 or db.session.scalar(sa.select(sa.func.count()).where(School.title == "重名校区")) == 1


def test_renaming_a_school_to_an_existing_title_is_refused(admin_client):
    make_school("First campus")
    second = make_school("Second campus")
    response = admin_client.post(f"/org/schools/edit/?id={second.id}", data={"title": "First campus"})
    assert response.status_code == 200
    assert "A school with this title already exists." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(School, second.id).title == "Second campus"


@pytest.mark.parametrize("code, title, message", [
    ("1002", "Another", "A department with this code already exists."),
    ("abc", "Letters", "Not a valid integer value."),
    ("", "Nothing", "Enter the department code (a number)."),
    ("-5", "Negative", "The code must be a whole number from 1 to 999999."),
    ("99999999999999999999", "Huge", "The code must be a whole number from 1 to 999999."),
    ("2100", "", "Enter the department title."),
])
def test_bad_departments_are_refused(admin_client, code, title, message):
    before = count(Department)
    response = admin_client.post("/org/departments/new/", data={"code": code, "title": title})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert count(Department) == before


def class_data(school_row, course_row, **changes) -> dict:
    """A valid class form, with some fields replaced."""
    data = {"school": str(school_row.id), "course": str(course_row.id), "semester": "1", "price": "19800",
            "start_date": "2026-09-01", "graduate_date": "2027-03-01", "memo": ""}
    data.update(changes)
    return data


@pytest.mark.parametrize("changes, message", [
    ({"price": "abc"}, "Not a valid integer value."),
    ({"price": "-1"}, "The price must be a whole number of yuan from 0 to 10000000."),
    ({"price": "19800.50"}, "Not a valid integer value."),
    ({"price": "99999999999999999999"}, "The price must be a whole number of yuan from 0 to 10000000."),
    ({"price": ""}, "Enter the price in whole yuan."),
    ({"semester": "-2"}, "The semester must be a whole number from 1 to 999."),
    ({"semester": "0"}, "The semester must be a whole number from 1 to 999."),
    ({"semester": "一"}, "Not a valid integer value."),
    ({"start_date": ""}, "Enter the start date (YYYY-MM-DD)."),
    ({"start_date": "2026-02-30"}, "Not a valid date value."),
    ({"graduate_date": "2026-08-31"}, "The graduation date cannot be before the start date."),
    ({"memo": "x" * 256}, "At most 255 characters."),
    ({"school": "__None"}, "Choose a school."),
    ({"course": "abc"}, "Choose a course."),
    ({"tutor": "99999999"}, "Not a valid choice"),
    ({"teachers": ["abc"]}, "Not a valid choice"),
])
def test_bad_class_input_is_refused(admin_client, changes, message):
    school, course = make_school(), make_course()
    before = count(ClassList)
    response = admin_client.post("/org/classes/new/", data=class_data(school, course, **changes))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert page.count('class="form-text text-danger') == 1, "one field with a message"
    assert count(ClassList) == before


def test_duplicate_class_semester_is_a_field_error(admin_client):
    school, course = make_school(), make_course()
    make_class(school=school, course=course, semester=3)
    before = count(ClassList)
    response = admin_client.post("/org/classes/new/", data=class_data(school, course, semester="3"))
    assert response.status_code == 200
    assert "Semester 3 of this course already exists at this school." in response.get_data(as_text=True)
    assert count(ClassList) == before
    # The same semester at another school is a different class.
    other = make_school()
    response = admin_client.post("/org/classes/new/", data=class_data(other, course, semester="3"))
    assert response.status_code == 302
    assert count(ClassList) == before + 1


def test_editing_a_class_into_an_existing_semester_is_refused(admin_client):
    school, course = make_school(), make_course()
    make_class(school=school, course=course, semester=1)
    second = make_class(school=school, course=course, semester=2)
    response = admin_client.post(f"/org/classes/edit/?id={second.id}", data=class_data(school, course, semester="1"))
    assert "Semester 1 of this course already exists at this school." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ClassList, second.id).semester == 2


def test_deleting_a_school_or_course_in_use_keeps_it(admin_client):
    school, course = make_school("Busy campus"), make_course("Busy course")
    make_class(school=school, course=course)
    response = admin_client.post("/org/schools/delete/", data={"id": str(school.id)}, follow_redirects=True)
    assert "The school “Busy campus” still has 1 classes; move or delete them first." in response.get_data(as_text=True)
    response = admin_client.post("/org/courses/delete/", data={"id": str(course.id)}, follow_redirects=True)
    assert "The course “Busy course” still has 1 classes; move or delete them first." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(School, school.id) is not None
    assert db.session.get(Course, course.id) is not None


def test_bulk_delete_with_one_school_in_use_deletes_nothing(admin_client):
    free, busy = make_school("Free campus"), make_school("Busy campus 2")
    make_class(school=busy)
    response = admin_client.post("/org/schools/action/", data={
        "action": "delete", "rowid": [str(free.id), str(busy.id)],
    }, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Nothing was deleted" in page and "Busy campus 2" in page
    db.session.expire_all()
    assert db.session.get(School, free.id) is not None
    assert db.session.get(School, busy.id) is not None


@pytest.mark.parametrize("raw_id", ["abc", "-1", "0", "1.5", "99999999999999999999", "", "<script>"])
def test_malformed_ids_in_urls_are_not_errors(admin_client, raw_id):
    school = make_school("Safe campus")
    response = admin_client.get(f"/org/schools/edit/?id={raw_id}")
    assert response.status_code == 302
    response = admin_client.post(f"/org/schools/edit/?id={raw_id}", data={"title": "Hijack"})
    assert response.status_code == 302
    response = admin_client.post("/org/schools/delete/", data={"id": raw_id})
    assert response.status_code == 302
    response = admin_client.post("/org/schools/action/", data={"action": "delete", "rowid": [raw_id]})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(School, school.id).title == "Safe campus"
    assert db.session.scalar(sa.select(School).where(School.title == "Hijack")) is None


def test_unicode_names_round_trip(admin_client):
    admin_client.post("/org/courses/new/", data={"name": "人工智能 🤖 Ünïcødé"})
    assert db.session.scalar(sa.select(Course).where(Course.name == "人工智能 🤖 Ünïcødé")) is not None
