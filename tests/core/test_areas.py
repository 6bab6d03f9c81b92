"""An area plugs in through the list of areas alone; domain errors map to HTTP statuses."""
from __future__ import annotations

import sys
import textwrap

import pytest

from crm import AREAS
from crm.core.areas import area_names, beat_schedule, seeders, task_modules

DUMMY_INIT = '''
"""A throw-away area used by the tests."""
from celery.schedules import crontab
from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

from crm.core.access import public
from crm.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

bp = Blueprint("dummy", __name__)
SEEDED = []
ERRORS = {"not-found": NotFound, "forbidden": Forbidden, "conflict": Conflict, "invalid": Invalid,
          "domain": DomainError}


@bp.route("/fail/<kind>")
@public
def fail(kind):
    """Raise the domain error named by `kind`."""
    raise ERRORS[kind]("refused: <b>" + kind + "</b>", field="name" if kind == "invalid" else None)


def seed(context):
    SEEDED.append(context)


def init_app(app: Flask) -> None:
    from crm.core.areas import register_beat, register_commands, register_home, register_seeder, register_tasks
    from crm.core.menu import MenuItem, register_menu

    app.register_blueprint(bp, url_prefix="/dummy")
    api = Blueprint("dummy_api", __name__)
    api.add_url_rule("/fail/<kind>", "fail", fail)
    app.register_blueprint(api, url_prefix="/api/dummy")
    register_menu(app, "dummy", _l("Dummy"), 1, [
        MenuItem(_l("Second"), "dummy.fail", None, order=2),
        MenuItem(_l("First"), "dummy.fail", None, order=1),
    ])
    register_tasks(app, "dummy_area.tasks")
    register_beat(app, "dummy-nightly", "dummy_area.nightly", crontab(hour=1, minute=0))
    register_seeder(app, "dummy", 35, seed)
'''

DUMMY_TASKS = '''
from celery import shared_task


@shared_task(name="dummy_area.nightly")
def nightly():
    return "ran"
'''


@pytest.fixture
def dummy_app(tmp_path, build_app):
    package = tmp_path / "dummy_area"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(DUMMY_INIT), encoding="utf-8")
    (package / "tasks.py").write_text(textwrap.dedent(DUMMY_TASKS), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield build_app(areas=(*AREAS, "dummy_area"))
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "dummy_area" or m.startswith("dummy_area.")]:
            del sys.modules[name]


def test_a_new_area_gets_blueprint_menu_tasks_beat_and_seeder(dummy_app):
    assert area_names(dummy_app)[-1] == "dummy_area"
    assert "dummy" in dummy_app.blueprints
    menu = dummy_app.extensions["crm_menu"]
    assert [str(item.label) for item in menu["dummy"].items] == ["First", "Second"]  # item order
    ordered = sorted(menu.values(), key=lambda area: area.order)
    assert ordered[0].key == "dummy"  # area order 1 puts it first
    assert "dummy_area.tasks" in task_modules(dummy_app)
    celery_app = dummy_app.extensions["celery"]
    assert "dummy_area.tasks" in celery_app.conf.imports
    assert celery_app.conf.beat_schedule["dummy-nightly"]["task"] == "dummy_area.nightly"
    assert beat_schedule(dummy_app)["dummy-nightly"]["task"] == "dummy_area.nightly"
    names = [seeder.name for seeder in seeders(dummy_app)]
    assert names.index("sales") < names.index("dummy")  # order 35 runs after sales (30)
    celery_app.loader.import_default_modules()
    assert "dummy_area.nightly" in celery_app.tasks


def test_the_areas_own_order_is_not_lost_when_an_area_registers_twice(app):
    from crm.core.menu import register_menu

    menu = app.extensions["crm_menu"]
    order = menu["sales"].order
    register_menu(app, "sales", "ignored label", order - 1, [])
    try:
        assert menu["sales"].order == order - 1
    finally:
        menu["sales"].order = order


@pytest.mark.parametrize("kind, status", [
    ("not-found", 404), ("forbidden", 403), ("conflict", 409), ("invalid", 422), ("domain", 400),
])
def test_each_domain_error_maps_to_its_status_on_a_page_and_on_the_api(dummy_app, kind, status):
    client = dummy_app.test_client()
    page = client.get(f"/dummy/fail/{kind}")
    assert page.status_code == status
    html = page.get_data(as_text=True)
    assert "refused: &lt;b&gt;" in html and "<b>" + kind not in html  # the message is escaped
    api = client.get(f"/api/dummy/fail/{kind}")
    assert api.status_code == status
    body = api.get_json()
    assert body["message"] == f"refused: <b>{kind}</b>"
    if kind == "invalid":
        assert body["field"] == "name"
    wants_json = client.get(f"/dummy/fail/{kind}", headers={"Accept": "application/json"})
    assert wants_json.status_code == status and wants_json.get_json()["message"].startswith("refused")
