"""What the generated sweeps walk: every GET page of `app.url_map` — those that take an id too,
filled with the ids of real seeded rows — and the forms on those pages, parsed from the HTML.

Nothing here lists pages or forms by hand: a new route or form is swept the day it is added.
Only the model behind each id argument is named (`ID_MODELS`); a test fails when a route takes
an id argument this table does not know.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser

import sqlalchemy as sa

from crm.extensions import db

# Paths whose pages are files, feeds or side effects, not pages with forms.
SKIP_PATHS = ("/export", "/feed", "/healthz", "/language", "/logout", ".xlsx", ".ics", "/progress", "/static")
# URL arguments that are no row id of a page (files, export formats, one-time tokens).
NOT_IDS = {"filename", "export_type", "token", "code"}


def id_models():
    """The columns whose values an id argument of that name can take (tried in this order)."""
    from crm.auth.models import Role, User
    from crm.org.models import ClassList
    from crm.rooms.models import Room
    from crm.sales.models import Customer, CustomerDistribution, ImportJob
    from crm.students.models import Student
    from crm.surveys.models import Survey
    from crm.teaching.models import CourseRecord, StudyRecord

    return {
        "class_id": [ClassList.id], "customer_id": [Customer.id], "job_id": [ImportJob.id],
        "record_id": [StudyRecord.id], "role_id": [Role.id], "room_id": [Room.id], "session_id": [CourseRecord.id],
        "student_id": [Student.id, User.id], "survey_id": [Survey.id], "user_id": [User.id],
        "run_id": [CustomerDistribution.reclaim_run], "notification_id": [], "token_id": [],
    }


def unknown_id_arguments(app) -> set[str]:
    known = set(id_models())
    return {arg for rule in app.url_map.iter_rules() for arg in rule.arguments
            if arg not in NOT_IDS and arg not in known}


def get_rules(app):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.endswith("static") or NOT_IDS & set(rule.arguments):
            continue
        if any(part in rule.rule for part in SKIP_PATHS):
            continue
        yield rule


def candidate_urls(app, rule, per_arg: int = 3) -> list[str]:
    """URLs of `rule` for up to `per_arg` real rows of each argument's model(s)."""
    if not rule.arguments:
        return [rule.rule]
    models = id_models()
    choices = {}
    for arg in sorted(rule.arguments):
        ids = []
        for column in models.get(arg, []):
            ids += list(db.session.scalars(sa.select(column).where(column.is_not(None)).distinct()
                                           .order_by(column).limit(per_arg)))
        choices[arg] = ids
    urls = []
    adapter = app.url_map.bind("localhost")
    for combo in itertools.product(*(choices[arg] for arg in sorted(rule.arguments))):
        urls.append(adapter.build(rule.endpoint, dict(zip(sorted(rule.arguments), combo, strict=True))))
    return urls


def reachable_pages(app, client, *, limit_per_rule: int = 1) -> list[str]:
    """Every page that answers 200 with HTML for this client: argument-free pages and, for each
    id-taking page, the first `limit_per_rule` seeded rows it shows."""
    pages = []
    for rule in get_rules(app):
        found = 0
        for url in candidate_urls(app, rule):
            response = client.get(url)
            if response.status_code == 200 and "html" in response.content_type:
                pages.append(url)
                found += 1
                if found >= limit_per_rule:
                    break
    return sorted(set(pages))


@dataclass
class Field:
    name: str
    kind: str  # text, hidden, checkbox, radio, select, textarea, file, submit, number, date, email, ...
    value: str = ""
    checked: bool = False
    required: bool = False
    options: list[str] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    multiple: bool = False
    minlength: int = 0


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: list[Field] = field(default_factory=list)

    @property
    def token(self) -> str | None:
        return next((f.value for f in self.fields if f.name == "submission_token"), None)

    def texts(self) -> list[str]:
        return [f.name for f in self.fields if f.kind not in (
            "hidden", "checkbox", "radio", "submit", "select", "button", "file", "reset", "image")]


class _Parser(HTMLParser):
    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.select: Field | None = None
        self.textarea: Field | None = None
        self.option: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.form = Form(unescape(a.get("action") or self.page), a.get("method", "get").lower(),
                             a.get("enctype", ""))
            self.forms.append(self.form)
        elif self.form is None:
            return
        elif tag == "input" and a.get("name"):
            self.form.fields.append(Field(a["name"], a.get("type", "text").lower(), a.get("value", ""),
                                          "checked" in a, "required" in a, minlength=_int(a.get("minlength"))))
        elif tag == "textarea" and a.get("name"):
            self.textarea = Field(a["name"], "textarea", "", required="required" in a,
                                  minlength=_int(a.get("minlength")))
            self.form.fields.append(self.textarea)
        elif tag == "select" and a.get("name"):
            self.select = Field(a["name"], "select", required="required" in a, multiple="multiple" in a)
            self.form.fields.append(self.select)
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            self.select.options.append(value)
            if "selected" in a:
                self.select.selected.append(value)

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def parse_forms(html: str, page: str) -> list[Form]:
    parser = _Parser(page)
    parser.feed(html)
    return parser.forms
