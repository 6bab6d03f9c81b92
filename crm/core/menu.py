"""The sidebar menu: areas and pages, filtered by the user's permissions."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app, request, url_for
from flask_babel import get_locale
from flask_login import current_user


@dataclass(frozen=True)
class MenuItem:
    """A page in the sidebar, shown when the user holds `permission`."""

    label: object  # a lazy gettext string
    endpoint: str
    permission: str | None = None  # None: every signed-in user
    order: int = 0  # within the area; equal orders keep their registration order


@dataclass
class MenuArea:
    """A group of pages in the sidebar."""

    key: str
    label: object
    order: int
    items: list[MenuItem] = field(default_factory=list)


def register_menu(app: Flask, key: str, label: object, order: int, items: list[MenuItem]) -> None:
    """Add (or extend) an area of the sidebar."""
    areas: dict[str, MenuArea] = app.extensions.setdefault("crm_menu", {})
    app.extensions.pop("crm_menu_visible", None)  # menus worked out before this change are stale
    app.extensions.pop("crm_menu_links", None)
    if key in areas:
        area = areas[key]
        area.order = min(area.order, order)  # several parts of one area: the earliest place wins
        area.items.extend(items)
    else:
        area = areas[key] = MenuArea(key=key, label=label, order=order, items=list(items))
    area.items.sort(key=lambda item: item.order)  # stable: equal orders keep registration order


def visible_menu() -> list[tuple[MenuArea, list[MenuItem]]]:
    """The areas and pages the current user may open, in menu order.

    Worked out once per set of permissions and kept for the process: the menu is fixed once
    the areas are registered, so the same permissions always give the same menu. The user's
    permissions themselves are read on every request, so a role change shows on the next page.
    """
    if not current_user.is_authenticated:
        return []
    held = current_user.permission_codes
    cache: dict[frozenset[str], list] = current_app.extensions.setdefault("crm_menu_visible", {})
    found = cache.get(held)
    if found is None:
        found = cache[held] = _menu_for(current_app.extensions.get("crm_menu", {}), held)
    return found


def _menu_for(registered: dict[str, MenuArea], held: frozenset[str]) -> list[tuple[MenuArea, list[MenuItem]]]:
    result = []
    for area in sorted(registered.values(), key=lambda a: a.order):
        items = [item for item in area.items if item.permission is None or item.permission in held]
        if items:
            result.append((area, items))
    return result


def sidebar_links() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """The sidebar as plain text, ready to print: [(area key, area label, [(endpoint, href, label)])].

    Kept per set of permissions, language and script root (what the links and labels depend
    on), so a page does not build twenty URLs and translate twenty labels on every request.
    """
    if not current_user.is_authenticated:
        return []
    key = (current_user.permission_codes, str(get_locale()), request.script_root)
    cache: dict[tuple, list] = current_app.extensions.setdefault("crm_menu_links", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = [
            (area.key, str(area.label), [(item.endpoint, url_for(item.endpoint), str(item.label)) for item in items])
            for area, items in visible_menu()
        ]
    return found
