"""Who may see, change and export organisation data (P-3, P-4)."""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.org.models import ClassList, Course, School
from tests.factories import make_class, make_course, make_school

LISTS = ["/org/schools/", "/org/courses/", "/org/classes/", "/org/departments/"]


@pytest.mark.parametrize("url", LISTS)
def test_read_only_user_lists_without_buttons(viewer_client, url):
    make_class()
    response = viewer_client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/new/" not in page, "no Create link"
    assert "/edit/" not in page, "no Edit links"
    assert "/delete/" not in page, "no Delete forms"
    assert "/action/" not in page and 'name="rowid"' not in page, "no bulk actions"
    assert "/export/" not in page, "no Export without org.export"
    assert "list-buttons-column" not in page, "no empty row-button column"


def test_ceo_sees_export_but_no_edit_buttons(ceo_client):
    make_school()
    page = ceo_client.get("/org/schools/").get_data(as_text=True)
    assert "/org/schools/export/xlsx/" in page
    assert "/new/" not in page and "/delete/" not in page
    assert ceo_client.get("/org/schools/export/xlsx/").status_code == 200


def test_admin_sees_every_button(admin_client):
    make_school()
    page = admin_client.get("/org/schools/").get_data(as_text=True)
    for part in ("/org/schools/new/", "/org/schools/edit/", "/org/schools/delete/", "/org/schools/export/xlsx/",
                 "/org/schools/action/"):
        assert part in page, part


def test_read_only_user_cannot_write(viewer_client):
    school, course = make_school("Untouched"), make_course()
    klass = make_class(school=school, course=course)
    attempts = [
        ("get", "/org/schools/new/", None),
        ("post", "/org/schools/new/", {"title": "Sneaky"}),
        ("get", f"/org/schools/edit/?id={school.id}", None),
        ("post", f"/org/schools/edit/?id={school.id}", {"title": "Renamed"}),
        ("post", "/org/schools/delete/", {"id": str(school.id)}),
        ("post", "/org/courses/action/", {"action": "delete", "rowid": [str(course.id)]}),
        ("post", "/org/classes/delete/", {"id": str(klass.id)}),
        ("post", "/org/departments/new/", {"code": "3001", "title": "Sneaky"}),
    ]
    for method, url, data in attempts:
        response = getattr(viewer_client, method)(url, data=data)
        assert response.status_code == 403, (method, url)
    db.session.expire_all()
    assert db.session.get(School, school.id).title == "Untouched"
    assert db.session.get(Course, course.id) is not None
    assert db.session.get(ClassList, klass.id) is not None
    assert db.session.scalar(db.select(School).where(School.title == "Sneaky")) is None


def test_export_needs_org_export(viewer_client):
    assert viewer_client.get("/org/classes/export/xlsx/").status_code == 403


def test_user_without_org_view_is_refused(app):
    from tests.org.conftest import signed_in

    client = signed_in(app, "consultant")
    for url in LISTS:
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("url", LISTS + ["/org/schools/new/", "/org/classes/export/xlsx/"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_anonymous_post_changes_nothing(client):
    school = make_school("Anon target")
    response = client.post("/org/schools/delete/", data={"id": str(school.id)})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(School, school.id) is not None
