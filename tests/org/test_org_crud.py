"""Create, edit and delete schools, courses, departments and classes as an administrator (P-4)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crm.auth.models import Department
from crm.extensions import db
from crm.org.models import ClassList, Course, School
from tests.factories import make_class, make_course, make_school, make_user


def test_school_create_edit_delete(admin_client):
    response = admin_client.post("/org/schools/new/", data={"title": "  深圳南山校区  "})
    assert response.status_code == 302
    school = db.session.scalar(sa.select(School).where(School.title == "深圳南山校区"))
    assert school is not None, "title is stored trimmed"

    response = admin_client.post(f"/org/schools/edit/?id={school.id}", data={"title": "深圳福田校区"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(School, school.id).title == "深圳福田校区"

    response = admin_client.post("/org/schools/delete/", data={"id": str(school.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(School, school.id) is None


def test_course_create_edit_delete(admin_client):
    admin_client.post("/org/courses/new/", data={"name": "Rust 系统编程"})
    course = db.session.scalar(sa.select(Course).where(Course.name == "Rust 系统编程"))
    assert course is not None

    admin_client.post(f"/org/courses/edit/?id={course.id}", data={"name": "Rust 高级编程"})
    db.session.expire_all()
    assert db.session.get(Course, course.id).name == "Rust 高级编程"

    admin_client.post("/org/courses/delete/", data={"id": str(course.id)})
    db.session.expire_all()
    assert db.session.get(Course, course.id) is None


def test_department_create_edit_delete(admin_client):
    admin_client.post("/org/departments/new/", data={"code": "2001", "title": "财务部"})
    department = db.session.scalar(sa.select(Department).where(Department.code == 2001))
    assert department is not None and department.title == "财务部"

    admin_client.post(f"/org/departments/edit/?id={department.id}", data={"code": "2002", "title": "财务中心"})
    db.session.expire_all()
    department = db.session.get(Department, department.id)
    assert (department.code, department.title) == (2002, "财务中心")

    # Saving unchanged values must not trip the uniqueness check on the row itself.
    response = admin_client.post(f"/org/departments/edit/?id={department.id}",
                                 data={"code": "2002", "title": "财务中心"})
    assert response.status_code == 302

    admin_client.post("/org/departments/delete/", data={"id": str(department.id)})
    db.session.expire_all()
    assert db.session.get(Department, department.id) is None


def test_class_create_edit_delete(admin_client):
    school, course = make_school(), make_course()
    tutor = make_user("tutor", department_code=1002, name="赵班主任")
    teacher_a, teacher_b = make_user("teacher", name="周老师"), make_user("teacher", name="吴老师")
    response = admin_client.post("/org/classes/new/", data={
        "school": str(school.id), "course": str(course.id), "semester": "3", "price": "19800",
        "start_date": "2026-09-01", "graduate_date": "2027-03-01", "tutor": str(tutor.id),
        "teachers": [str(teacher_a.id), str(teacher_b.id)], "memo": "周末班",
    })
    assert response.status_code == 302
    klass = db.session.scalar(sa.select(ClassList).where(ClassList.course_id == course.id))
    assert (klass.school_id, klass.semester, klass.price) == (school.id, 3, 19800)
    assert (klass.start_date, klass.graduate_date) == (dt.date(2026, 9, 1), dt.date(2027, 3, 1))
    assert klass.tutor_id == tutor.id
    assert {t.id for t in klass.teachers} == {teacher_a.id, teacher_b.id}
    assert klass.memo == "周末班"

    listing = admin_client.get("/org/classes/").get_data(as_text=True)
    assert f"{course.name} (cohort 3)" in listing

    response = admin_client.post(f"/org/classes/edit/?id={klass.id}", data={
        "school": str(school.id), "course": str(course.id), "semester": "4", "price": "0",
        "start_date": "2026-10-01", "graduate_date": "", "tutor": "__None",
        "teachers": [str(teacher_b.id)], "memo": "",
    })
    assert response.status_code == 302
    db.session.expire_all()
    klass = db.session.get(ClassList, klass.id)
    assert (klass.semester, klass.price, klass.graduate_date, klass.tutor_id, klass.memo) == (4, 0, None, None, None)
    assert [t.id for t in klass.teachers] == [teacher_b.id]

    admin_client.post("/org/classes/delete/", data={"id": str(klass.id)})
    db.session.expire_all()
    assert db.session.get(ClassList, klass.id) is None


def test_class_form_offers_active_staff_only_with_tutors_first(admin_client):
    tutor = make_user("tutor", department_code=1002, name="Zed Tutor")
    teacher = make_user("teacher", name="Amy Teacher")
    gone = make_user("teacher", name="Gone Teacher", active=False)
    student = make_user("student", name="Some Student", kind="student")
    page = admin_client.get("/org/classes/new/").get_data(as_text=True)
    tutor_select = page[page.index('id="tutor"'):page.index('id="teachers"')]
    assert "Zed Tutor" in tutor_select and "Amy Teacher" in tutor_select
    assert tutor_select.index("Zed Tutor") < tutor_select.index("Amy Teacher"), "department 1002 first"
    assert "Gone Teacher" not in page and "Some Student" not in page

    school, course = make_school(), make_course()
    response = admin_client.post("/org/classes/new/", data={
        "school": str(school.id), "course": str(course.id), "semester": "1", "price": "100",
        "start_date": "2026-09-01", "tutor": str(student.id), "teachers": [str(gone.id)],
    })
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(ClassList).where(ClassList.course_id == course.id)) is None
    assert tutor.id and teacher.id


def test_editing_a_class_keeps_a_deactivated_teacher(admin_client):
    teacher = make_user("teacher", name="Retired Teacher")
    klass = make_class(teachers=[teacher], semester=2)
    teacher.active = False
    db.session.commit()
    page = admin_client.get(f"/org/classes/edit/?id={klass.id}").get_data(as_text=True)
    assert "Retired Teacher" in page
    response = admin_client.post(f"/org/classes/edit/?id={klass.id}", data={
        "school": str(klass.school_id), "course": str(klass.course_id), "semester": "2", "price": "500",
        "start_date": "2026-09-01", "teachers": [str(teacher.id)],
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert [t.id for t in db.session.get(ClassList, klass.id).teachers] == [teacher.id]


def test_bulk_delete_removes_the_selected_rows(admin_client):
    keep, first, second = make_course(), make_course(), make_course()
    response = admin_client.post("/org/courses/action/", data={
        "action": "delete", "rowid": [str(first.id), str(second.id)],
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Course, first.id) is None and db.session.get(Course, second.id) is None
    assert db.session.get(Course, keep.id) is not None


def test_bulk_action_outside_the_whitelist_does_nothing(admin_client, app):
    from crm.org.admin import CourseView

    course = make_course()
    view = next(v for v in app.extensions["crm_admin"]._views if isinstance(v, CourseView))
    with app.test_request_context():
        assert [name for name, _text in view._actions] == ["delete"]
    response = admin_client.post("/org/courses/action/", data={"action": "drop_everything", "rowid": [str(course.id)]})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Course, course.id) is not None


def test_a_class_is_named_in_the_ui_language(app):
    from flask_babel import force_locale

    klass = make_class(course=make_course("Python 全栈开发"), semester=3)
    with force_locale("zh_CN"):
        assert klass.display_name == str(klass) == "Python 全栈开发 (3期)"
    with force_locale("en"):
        assert klass.display_name == str(klass) == "Python 全栈开发 (cohort 3)"
