"""Names typed by users are shown escaped on every org page (no stored XSS)."""
from __future__ import annotations

from crm.auth.models import Department
from crm.extensions import db
from tests.factories import make_class, make_course, make_school, make_user

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_escaped(page: str) -> None:
    """The raw tag never appears; its escaped form does."""
    assert EVIL not in page
    assert ESCAPED in page


def test_script_in_names_is_escaped_everywhere(admin_client):
    school = make_school(f"School {EVIL}")
    course = make_course(f"Course {EVIL}")
    tutor = make_user("tutor", name=f"Tutor {EVIL}")
    klass = make_class(school=school, course=course, tutor=tutor, teachers=[tutor], memo=f"Memo {EVIL}")
    department = Department(code=4242, title=f"Dept {EVIL}")
    db.session.add(department)
    db.session.commit()

    pages = {
        "school list": "/org/schools/",
        "school edit": f"/org/schools/edit/?id={school.id}",
        "course list": "/org/courses/",
        "course edit": f"/org/courses/edit/?id={course.id}",
        "class list": "/org/classes/",
        "class edit": f"/org/classes/edit/?id={klass.id}",
        "class create": "/org/classes/new/",
        "department list": "/org/departments/",
        "department edit": f"/org/departments/edit/?id={department.id}",
        "search echo": f"/org/classes/?search={EVIL}",
    }
    for label, url in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, label
        assert_escaped(response.get_data(as_text=True))

    class_list = admin_client.get("/org/classes/").get_data(as_text=True)
    assert f"Course {ESCAPED} (cohort 1)" in class_list, "the class column shows the escaped course"


def test_script_typed_into_forms_is_stored_as_text_and_shown_escaped(admin_client):
    admin_client.post("/org/schools/new/", data={"title": f"Typed {EVIL}"})
    page = admin_client.get("/org/schools/").get_data(as_text=True)
    assert f"Typed {ESCAPED}" in page
    assert EVIL not in page
