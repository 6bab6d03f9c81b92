"""Endpoint access declarations and their enforcement (P-3).

Every endpoint declares who may call it: `@public`, `@authenticated`
(any signed-in user) or `@permission_required(code, ...)`. A single
before-request hook enforces the declaration and refuses endpoints that
declare nothing, so a forgotten decorator fails closed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

PUBLIC = "public"
AUTHENTICATED = "authenticated"

# Endpoints a user whose password must change may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout", "static", "core.set_language"}


def public(view: Callable) -> Callable:
    """Declare a view open to anonymous visitors."""
    view._crm_access = PUBLIC
    return view


def authenticated(view: Callable) -> Callable:
    """Declare a view open to every signed-in user."""
    view._crm_access = AUTHENTICATED
    return view


def permission_required(*codes: str) -> Callable[[Callable], Callable]:
    """Declare a view that needs any one of the given permission codes."""
    if not codes:
        raise ValueError("permission_required needs at least one code")

    def decorator(view: Callable) -> Callable:
        view._crm_access = tuple(codes)
        return view

    return decorator


def declare_endpoint(app: Flask, endpoint: str, access: str | Iterable[str]) -> None:
    """Declare access for an endpoint whose view function we do not decorate."""
    value = access if isinstance(access, str) else tuple(access)
    app.extensions.setdefault("crm_access", {})[endpoint] = value


def declare_blueprint(app: Flask, blueprint: str, access: str | Iterable[str]) -> None:
    """Declare access for every endpoint of a blueprint we do not own (e.g. Flask-Admin)."""
    value = access if isinstance(access, str) else tuple(access)
    app.extensions.setdefault("crm_access_blueprints", {})[blueprint] = value


def access_for(app: Flask, endpoint: str):
    """The declaration for an endpoint, or None when it declares nothing."""
    declared = app.extensions.get("crm_access", {})
    if endpoint in declared:
        return declared[endpoint]
    view = app.view_functions.get(endpoint)
    found = getattr(view, "_crm_access", None)
    if found is None and hasattr(view, "view_class"):
        found = getattr(view.view_class, "_crm_access", None)
    if found is not None:
        return found
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else None
    if blueprint:
        return app.extensions.get("crm_access_blueprints", {}).get(blueprint)
    return None


def enforce_access():
    """Before-request hook: apply the endpoint's declaration."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched; Flask answers 404/405 itself
        return None
    access = access_for(current_app, endpoint)
    if access is None:
        current_app.logger.error("endpoint %s has no access declaration; refusing", endpoint)
        abort(403)
    if access == PUBLIC:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("auth.change_password"))
    if access == AUTHENTICATED:
        return None
    if not current_user.has_any_permission(access):
        abort(403)
    return None


def can(*codes: str) -> bool:
    """Template and view helper: does the current user hold any of these permissions?"""
    return bool(current_user.is_authenticated and current_user.has_any_permission(codes))
