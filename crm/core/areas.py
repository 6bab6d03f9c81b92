"""How an area plugs into the application.

`crm.AREAS` lists the area packages; `create_app` imports each and calls
its `init_app(app)`. An area's `init_app` mounts its blueprint and uses
the helpers below for everything else, so adding an area touches no
central file but that list:

* :func:`register_tasks` -- Celery task modules (they become the worker's ``imports``);
* :func:`register_beat` -- periodic tasks (merged into the beat schedule);
* :func:`register_seeder` -- its part of ``flask crm seed-demo``, in order;
* :func:`register_commands` -- ``flask crm ...`` sub-commands;
* :func:`register_home` -- where a kind of user starts (the student portal), and
  panels on the start page (open surveys);
* ``crm.core.menu.register_menu`` -- sidebar entries with their order.

Everything is kept in ``app.extensions`` so two apps in one process (tests)
never share registrations.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask


@dataclass(order=True)
class Seeder:
    """One area's demo data step; lower `order` runs first."""

    order: int
    name: str
    run: Callable[[DemoContext], None] = field(compare=False)


@dataclass
class DemoContext:
    """What earlier demo steps created, for the later ones (accounts by user name, org rows, dates)."""

    today: Any
    password: str
    users: dict[str, Any] = field(default_factory=dict)
    schools: list[Any] = field(default_factory=list)
    courses: list[Any] = field(default_factory=list)
    classes: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _registry(app: Flask) -> dict[str, Any]:
    return app.extensions.setdefault(
        "crm_areas",
        {"tasks": [], "beat": {}, "seeders": [], "commands": [], "names": [], "home_redirects": [],
         "home_panels": []},
    )


def init_areas(app: Flask, areas: Iterable[str]) -> None:
    """Import each area package and call its `init_app(app)`, in the order given."""
    registry = _registry(app)
    for name in areas:
        module = importlib.import_module(name)
        init = getattr(module, "init_app", None)
        if init is None:
            raise RuntimeError(f"area {name} has no init_app(app)")
        init(app)
        registry["names"].append(name)


def register_tasks(app: Flask, *modules: str) -> None:
    """Celery task modules of an area (imported by the worker at start)."""
    tasks = _registry(app)["tasks"]
    tasks.extend(module for module in modules if module not in tasks)


def register_beat(app: Flask, name: str, task: str, schedule: Any, **options: Any) -> None:
    """A periodic task: `name` is the stable schedule key, `task` the explicit task name."""
    entry = {"task": task, "schedule": schedule}
    entry.update(options)
    _registry(app)["beat"][name] = entry


def register_seeder(app: Flask, name: str, order: int, run: Callable[[DemoContext], None]) -> None:
    """An area's demo data step for `flask crm seed-demo`."""
    seeders = _registry(app)["seeders"]
    seeders[:] = [s for s in seeders if s.name != name]
    seeders.append(Seeder(order, name, run))


def register_commands(app: Flask, *commands: click.Command) -> None:
    """`flask crm <command>` sub-commands of an area."""
    _registry(app)["commands"].extend(commands)


def sweep_schedule(app: Flask) -> Any:
    """The schedule of the sweepers that pick up work left behind (due e-mail, stalled imports).

    Every minute on the minute by default; `CRM_SWEEP_SECONDS` sets another interval (the fault
    tests run beat with a few seconds).
    """
    import datetime as dt

    from celery.schedules import crontab, schedule

    seconds = int(app.config.get("CRM_SWEEP_SECONDS", 60))
    return crontab(minute="*") if seconds == 60 else schedule(run_every=dt.timedelta(seconds=seconds))


def task_modules(app: Flask) -> list[str]:
    """Every registered task module, in area order."""
    return list(_registry(app)["tasks"])


def beat_schedule(app: Flask) -> dict[str, dict]:
    """Every registered periodic task."""
    return dict(_registry(app)["beat"])


def seeders(app: Flask) -> list[Seeder]:
    """Demo steps in order."""
    return sorted(_registry(app)["seeders"])


def commands(app: Flask) -> list[click.Command]:
    """Area CLI commands."""
    return list(_registry(app)["commands"])


def area_names(app: Flask) -> list[str]:
    """The areas this app was built with."""
    return list(_registry(app)["names"])


def register_home(app: Flask, *, redirect: Callable[[Any], str | None] | None = None,
                  panel: Callable[[Any], Any] | None = None, order: int = 100) -> None:
    """Start-page hooks: `redirect(user)` gives a URL to start at instead (first answer wins, by order);
    `panel(user)` gives HTML (Markup from a rendered template) or None, shown on the start page."""
    registry = _registry(app)
    if redirect is not None:
        registry["home_redirects"].append((order, redirect))
        registry["home_redirects"].sort(key=lambda item: item[0])
    if panel is not None:
        registry["home_panels"].append((order, panel))
        registry["home_panels"].sort(key=lambda item: item[0])


def home_redirect(app: Flask, user: Any) -> str | None:
    """The first area start page that claims this user, or None."""
    for _order, hook in _registry(app)["home_redirects"]:
        url = hook(user)
        if url:
            return url
    return None


def home_panels(app: Flask, user: Any) -> list[Any]:
    """Rendered start-page panels for this user, in order (empty ones left out)."""
    rendered = (hook(user) for _order, hook in _registry(app)["home_panels"])
    return [html for html in rendered if html]
