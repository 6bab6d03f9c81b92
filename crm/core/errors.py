"""Domain errors raised by services and the HTTP error pages."""
from __future__ import annotations

import logging

import redis as redis_lib
from flask import Flask, jsonify, render_template, request

log = logging.getLogger(__name__)

# Seconds a client is asked to wait (Retry-After) while Redis does not answer.
REDIS_DOWN_RETRY_AFTER = 30


class DomainError(Exception):
    """A rule refused the operation; the message is shown to the user as is."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist."""

    status_code = 404


class Forbidden(DomainError):
    """The actor may not do this."""

    status_code = 403


class Conflict(DomainError):
    """The operation collides with the current state (taken, duplicate, ...)."""

    status_code = 409


class Invalid(DomainError):
    """The input breaks a rule (a field message when `field` is set)."""

    status_code = 422


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def register_error_pages(app: Flask) -> None:
    """HTML error pages for the UI, JSON bodies for the API."""

    def render(status: int, title: str, message: str):
        if _wants_json():
            return jsonify({"error": title, "message": message}), status
        return render_template("errors/error.html", status=status, title=title, message=message), status

    from flask_babel import gettext as _

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        """A service refused: undo the request's writes, answer with the error's status and message."""
        from crm.extensions import db

        db.session.rollback()
        titles = {404: _("Not found"), 403: _("Access denied"), 409: _("Conflict"), 422: _("Invalid input")}
        status = error.status_code
        if _wants_json():
            body = {"error": titles.get(status, _("Bad request")), "message": error.message}
            if error.field:
                body["field"] = error.field
            return jsonify(body), status
        return render_template("errors/error.html", status=status, title=titles.get(status, _("Bad request")),
                               message=error.message), status

    @app.errorhandler(redis_lib.exceptions.ConnectionError)
    @app.errorhandler(redis_lib.exceptions.TimeoutError)
    def redis_unavailable(error):
        """Redis (throttles, rate limits, the allocation queue) does not answer: 503 with Retry-After, never 500.

        One guard for every page and the API: whatever step needed Redis, the request's writes are
        undone and the client is told to come back shortly.
        """
        from crm.extensions import db

        db.session.rollback()
        log.warning("Redis unavailable during %s %s: %s", request.method, request.path, error)
        response = app.make_response(render(
            503, _("Temporarily unavailable"),
            _("A service this page needs is not answering right now; nothing was saved. "
              "Please try again in a minute."),
        ))
        response.headers["Retry-After"] = str(REDIS_DOWN_RETRY_AFTER)
        return response

    @app.errorhandler(400)
    def bad_request(error):
        description = getattr(error, "description", "") or ""
        return render(400, _("Bad request"), str(description))

    @app.errorhandler(403)
    def forbidden(error):
        return render(403, _("Access denied"), _("You do not have permission to open this page."))

    @app.errorhandler(404)
    def not_found(error):
        return render(404, _("Not found"), _("The page or record you asked for does not exist."))

    @app.errorhandler(405)
    def not_allowed(error):
        return render(405, _("Method not allowed"), _("This address does not accept that kind of request."))

    @app.errorhandler(413)
    def too_large(error):
        return render(413, _("Too large"), _("The upload or request is larger than allowed."))

    @app.errorhandler(429)
    def too_many(error):
        return render(429, _("Too many requests"), _("Please slow down and try again shortly."))

    @app.errorhandler(500)
    def server_error(error):
        from crm.extensions import db

        # Undo the failed request's writes first: the page itself may need the database.
        db.session.rollback()
        return render(500, _("Server error"), _("Something went wrong on our side; nothing was saved."))
