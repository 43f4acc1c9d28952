"""When the database is busy or gone: a friendly 503 instead of a 500, for HTML pages (the API has its own JSON 503).

A lock held past lock_timeout, a statement past statement_timeout (both set below gunicorn's worker timeout in
settings) and a dropped connection raise OperationalError; retrying can succeed, so the answer is 503 with
Retry-After. Any other database error is a bug and stays a loud 500.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

RETRY_AFTER_SECONDS = 2


def is_transient(exc) -> bool:
    """Lock contention, timeout, deadlock, serialization failure or a lost connection: retrying can succeed.

    Anything else (SQLite's "no such table", say) is a server bug and must stay a loud 500, not pass for busy.
    """
    if isinstance(exc, InterfaceError):  # the connection was closed under us
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate:  # PostgreSQL: connection exception, transaction rollback, resources, operator, lock not available
        return sqlstate[:2] in {"08", "40", "53", "57"} or sqlstate == "55P03"
    text = str(exc).lower()
    return "locked" in text or "busy" in text or ("connection" in text and ("closed" in text or "lost" in text))


def database_unavailable(request) -> HttpResponse:
    # No request context: rendering must not touch the database that just failed.
    body = render_to_string("503.html", {"path": request.get_full_path()})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that fails on a busy or lost database answers the friendly 503 page (in DEBUG too)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_transient(exception):
            return database_unavailable(request)
        return None


def server_error(request):
    """handler500: failures outside a view (a session or user lookup in middleware) get the same 503 page."""
    exception = sys.exc_info()[1]
    if is_transient(exception):
        return database_unavailable(request)
    return defaults.server_error(request)
