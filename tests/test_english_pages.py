"""The English UI shows no Chinese outside user data: every GET page, export and JSON answer of the app.

The pages come from the URL map (every GET endpoint, so a new page is walked without being
listed here); the ids they take are filled with objects of the demo data (Chinese names,
notes, schools and courses: user data) plus an import, a reclaim run, an API token and an
undelivered e-mail. Each page is opened signed out and by every demo account in English
(refusals, 403 and 404 pages, are read too); a page must answer 200 to at least one of them.
Whatever Chinese is left after taking out the values stored in the database (user data) is
interface text that was not translated.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
import sqlalchemy as sa
from flask_babel import refresh
from markupsafe import escape
from openpyxl import Workbook, load_workbook

from crm.core import clock
from crm.extensions import db

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
PASSWORD = "demo1234"
ACCOUNTS = ("admin", "ceo", "director", "sales1", "tutor1", "teacher1", "staff1", "student1")

# Stored texts that are interface labels, not user data: the default roles and permissions keep
# their catalogue text in the database and are translated when shown.
LABEL_COLUMNS = {("roles", "title"), ("roles", "description"), ("permissions", "label")}

# Endpoints that are not pages for a signed-in person: files, widget lookups and the calendar
# feed (read by calendar apps in the feed owner's saved language, not the session's).
NOT_PAGES = {"static", "admin.static", "rooms.feed"}

# Endpoints that only send the visitor on (Flask-Admin's index: the home page holds the menu).
REDIRECTS = {"admin.index"}

# Flask-Admin actions a view switches off answer with a redirect; they are no page to read.
ADMIN_SWITCHES = {"create_view": "can_create", "edit_view": "can_edit", "details_view": "can_view_details",
                  "export": "can_export"}

# Downloads whose format is bilingual by design: the import template's headers and the rejected-rows
# workbook (re-importable, so it keeps the template's headers) are what the importer reads in any UI language.
BILINGUAL_FORMATS = {"sales.import_template", "sales.import_errors"}


def _chinese(text: str) -> list[str]:
    return sorted({text[max(m.start() - 40, 0):m.end() + 40] for m in CJK.finditer(text)})[:5]


def _strings(value) -> list[str]:
    """A stored value and, when it is JSON (audit details), the strings inside it."""
    found = [value]
    if value[:1] in "[{":
        try:
            parsed = json.loads(value)
        except ValueError:
            return found
        stack = [parsed]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


def _user_data() -> list[str]:
    """Every Chinese text stored in the database outside the label columns, longest first."""
    values = set()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns
                   if isinstance(c.type, (sa.String, sa.Text)) and (table.name, c.name) not in LABEL_COLUMNS]
        if not columns:
            continue
        for row in db.session.execute(sa.select(*columns)):
            for value in row:
                if isinstance(value, str) and CJK.search(value):
                    values.update(s.strip() for s in _strings(value) if CJK.search(s))
    return sorted(values, key=len, reverse=True)


def _without_user_data(text: str, data: list[str]) -> str:
    for value in data:
        if value in text:
            text = text.replace(value, " ")
        escaped = str(escape(value))
        if escaped != value and escaped in text:
            text = text.replace(escaped, " ")
        for line in value.splitlines():  # notes shown line by line
            if len(line.strip()) > 1:
                text = text.replace(line.strip(), " ")
    return text


def _text_of(response) -> str | None:
    """The readable text of a response, or None for a kind we do not read (files, calendars)."""
    mimetype = response.mimetype
    if mimetype == "text/html":
        # The language switch names the other language in that language: not text to translate.
        return re.sub(r'<button[^>]*id="crm-language"[^>]*>[^<]*</button>', "", response.get_data(as_text=True))
    if mimetype.endswith("spreadsheetml.sheet"):
        book = load_workbook(io.BytesIO(response.data), read_only=True)
        return "\n".join(f"{sheet.title}\n" + "\n".join(str(v) for row in sheet.iter_rows(values_only=True)
                                                      for v in row if v is not None)
                         for sheet in book.worksheets)
    if mimetype == "text/csv":
        return "\n".join(",".join(row) for row in csv.reader(io.StringIO(response.get_data(as_text=True))))
    if mimetype == "application/json":
        return json.dumps(response.get_json(), ensure_ascii=False)
    return None


# -- the objects the pages take -------------------------------------------------------------
IMPORT_ROWS = [
    ["QQ", "Name", "Gender", "Source", "Memo"],
    ["81234501", "Import Ann", "female", "website", "called back"],
    ["81234502", "导入 王芳", "女", "官方网站", None],  # the file's own values, shown in the preview: user data
    ["12", "Broken Row", "female", "website", None],  # QQ too short: a rejected row
]


def _workbook() -> bytes:
    """A small import file with English headers: two good rows and one bad one."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Leads"
    for row in IMPORT_ROWS:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _english_client(app, username: str | None):
    """A new client in English, signed in as `username` (None: signed out)."""
    client = app.test_client()
    if username is not None:
        response = client.post("/auth/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, username
    client.post("/language/en")
    refresh()
    return client


def _seed(app) -> dict:
    """Demo data plus what the demo does not make; the values of every URL argument."""
    from crm.api.services import create_token
    from crm.auth.models import Role, User
    from crm.demo import seed_demo
    from crm.notifications.models import Notification
    from crm.org.models import ClassList
    from crm.rooms.models import Room
    from crm.sales.imports.tasks import run_import
    from crm.sales.imports.workbook import create_job, upload_path
    from crm.sales.models import Customer, CustomerDistribution, ImportJob
    from crm.sales.pool.reclaim import reclaim_expired
    from crm.students.models import Student
    from crm.surveys.models import Survey
    from crm.teaching.models import CourseRecord, StudyRecord

    assert seed_demo(PASSWORD)
    db.session.commit()
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_(ACCOUNTS)))}
    # A reclaim run: one of sales1's leads left without follow-up for a week.
    today = clock.today()
    lead = db.session.scalar(sa.select(Customer).where(Customer.consultant_id == users["sales1"].id)
                             .order_by(Customer.id))
    lead.received_on = lead.last_follow_up_on = today - dt.timedelta(days=7)
    db.session.execute(sa.update(CustomerDistribution).where(
        CustomerDistribution.customer_id == lead.id, CustomerDistribution.ended_on.is_(None))
        .values(started_on=today - dt.timedelta(days=7)))
    db.session.commit()
    run = reclaim_expired(today, use_lock=False)
    db.session.commit()
    held = db.session.scalar(sa.select(Customer).where(Customer.consultant_id == users["sales1"].id)
                             .order_by(Customer.id))
    # An import by staff1 (upload, preview, job run to the end with a rejected row) and a pending preview.
    client = _english_client(app, "staff1")
    response = client.post("/sales/imports/new", data={"file": (io.BytesIO(_workbook()), "leads.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    token = response.headers["Location"].rsplit("/", 1)[1]
    job = create_job(upload_path(token), "leads.xlsx", users["staff1"].id, keep_source=True, ignore_unknown=True)
    db.session.commit()
    with app.test_request_context():
        run_import(job.id)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "done"
    preview = client.post("/sales/imports/new", data={"file": (io.BytesIO(_workbook()), "again.xlsx")},
                          content_type="multipart/form-data")
    preview_token = preview.headers["Location"].rsplit("/", 1)[1]
    # An API token and an e-mail that could not be delivered.
    create_token(users["admin"].id, name="Website", rate_per_minute=60)
    db.session.add(Notification(kind="lead_assigned", recipient_id=users["sales1"].id, to_address="x@example.com",
                                subject="新客户：张三", body_text="你好", body_html="<p>你好</p>", status="failed",
                                attempts=3, last_error="550 mailbox unavailable"))
    db.session.commit()
    student = db.session.scalar(sa.select(Student).where(Student.user_id == users["student1"].id))
    record = db.session.scalar(sa.select(StudyRecord).where(StudyRecord.homework_file.is_not(None)))
    session = db.session.get(CourseRecord, record.course_record_id)
    klass = db.session.get(ClassList, session.class_id)
    survey = db.session.scalar(sa.select(Survey).order_by(Survey.id))
    values = {
        "customer_id": held.id, "student_id": student.id, "class_id": klass.id, "session_id": session.id,
        "record_id": record.id, "survey_id": survey.id, "room_id": db.session.scalar(sa.select(Room.id)),
        "role_id": db.session.scalar(sa.select(Role.id).where(Role.name == "consultant")),
        "user_id": users["sales1"].id, "job_id": job.id, "token": preview_token, "run_id": run.run_id,
    }
    return {"values": values, "clients": {"staff1": client}}


def _admin_views(app) -> dict:
    """Flask-Admin views by endpoint: their model (for ?id=) and export types."""
    return {view.endpoint: view for admin in app.extensions.get("admin", []) for view in admin._views}


def _urls(app, values: dict) -> list[tuple[str, str]]:
    """(endpoint, URL) of every GET endpoint, arguments filled in; admin record pages with a record's id."""
    from flask import url_for

    views = _admin_views(app)
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
                continue
            prefix, _dot, action = rule.endpoint.rpartition(".")
            view = views.get(prefix)
            if action == "ajax_lookup":
                continue  # answers a select widget's typing, needs its field name; no page
            if view is not None and action in ADMIN_SWITCHES and not getattr(view, ADMIN_SWITCHES[action]):
                continue
            if action == "export" and view is not None:
                for kind in getattr(view, "export_types", ["csv"]):
                    urls.append((rule.endpoint, url_for(rule.endpoint, export_type=kind)))
                continue
            missing = [a for a in rule.arguments if a not in values]
            assert not missing, f"{rule.endpoint} takes {missing}: give this test an object for it"
            url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
            if action in ("details_view", "edit_view") and view is not None:
                pk = db.session.scalar(sa.select(view.model).order_by(view.model.id)).id
                url = f"{url}?id={pk}"
            urls.append((rule.endpoint, url))
        # Second tabs of pages that have them.
        urls.append(("sales.my_customers", url_for("sales.my_customers", tab="history")))
    return sorted(set(urls))


def seeded_pages(app, tmp_path, monkeypatch) -> tuple[dict, list[tuple[str, str]]]:
    """The seeded objects and clients (`_seed`) and every GET page's (endpoint, URL) (`_urls`).

    Files go under `tmp_path`; the allocation queue starts empty (reset it again at the end).
    """
    monkeypatch.setitem(app.config, "CRM_IMPORT_DIR", str(tmp_path / "imports"))
    monkeypatch.setitem(app.config, "CRM_HOMEWORK_DIR", str(tmp_path / "homework"))
    from crm.sales import allocation

    allocation.reset_state()
    seeded = _seed(app)
    return seeded, _urls(app, seeded["values"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_admin")
def test_every_page_in_english_has_no_chinese_outside_user_data(app, tmp_path, monkeypatch):
    from crm.sales import allocation

    seeded, urls = seeded_pages(app, tmp_path, monkeypatch)
    data = sorted({*_user_data(), *(v for row in IMPORT_ROWS for v in row if v and CJK.search(v))},
                  key=len, reverse=True)
    answered: dict[str, list[str]] = {}
    problems: dict[str, list[str]] = {}
    for username in (None, *ACCOUNTS):  # None: signed out (the sign-in page and whatever else is public)
        # staff1 keeps the client that uploaded the pending preview (previews belong to their session).
        client = seeded["clients"].get(username) or _english_client(app, username)
        for endpoint, url in urls:
            response = client.get(url)
            assert response.status_code < 500, (username, url, response.status_code)
            if endpoint in REDIRECTS:
                assert response.status_code in (301, 302, 303), (username, url, response.status_code)
                answered.setdefault(endpoint, []).append(username)
                continue
            if 300 <= response.status_code < 400:
                continue
            if response.status_code == 200:
                answered.setdefault(endpoint, []).append(username)
            if endpoint in BILINGUAL_FORMATS:
                continue
            text = _text_of(response)
            if text is None:
                continue
            found = _chinese(_without_user_data(text, data))
            if found:
                problems[f"{username} {url}"] = found
    allocation.reset_state()
    unanswered = sorted({endpoint for endpoint, _url in urls} - set(answered))
    assert unanswered == [], f"no demo account could open these pages: {unanswered}"
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
