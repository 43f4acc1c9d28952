"""The HTTP API at /api/v1/ (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs).

Every error is JSON `{"detail": "…"}`; validation errors add `"errors": [{"loc", "field", "message", "type"}]`
(and `"index"` for an item of a batch). 400 unparseable body or header, 401 missing/unknown key, 403 read-only key
writing, 404 unknown or another project's object, 409 conflicting state, 413 batch or body too large,
422 invalid fields, 429 past the key's rate limit (with Retry-After), 503 database busy (with Retry-After).
"""

import json
import math

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser

from events.api.activity import router as activity_router
from events.api.conversations import router as conversations_router
from monitoring.api import router as monitoring_router
from notifications.api import router as notifications_router
from projects.api_auth import ApiKeyAuth, ApiKeyRateThrottle
from projects.idempotency import KEY_SCHEMA

from .db_router import note_failed_read
from .faults import is_transient

BATCH_FIELDS = {"events", "actions"}


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but no database stores an infinite number
        raise ValueError(f"the number {text[:40]} is too large (out of the range of a 64-bit float)")
    return value


class StrictJSONParser(Parser):
    """Plain JSON, minus Python's extensions (NaN, Infinity) and numbers that overflow to infinity (1e400),
    which no database JSON column accepts."""

    def parse_body(self, request):
        return json.loads(request.body, parse_constant=_reject_constant, parse_float=_finite_float)


class ActivityHubAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        """The generated document, plus the Idempotency-Key shape (checked by run_idempotent, so a bad key is our
        documented 400 rather than ninja's 422)."""
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key":
                        parameter["schema"] = {**parameter.get("schema", {}), **KEY_SCHEMA}
        return schema


api = ActivityHubAPI(
    title="ActivityHub API",
    version="1",
    description=(
        "Record events, audit actions, conversations and workflow runs; read the feed and insights. "
        "Authenticate with `Authorization: Bearer ah_…` (a project API key from the project's Settings)."
    ),
    auth=ApiKeyAuth(),
    throttle=[ApiKeyRateThrottle()],
    parser=StrictJSONParser(),
    # validatorUrl None: Swagger UI would otherwise send our schema to validator.swagger.io (blocked by CSP).
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": True}),
    urls_namespace="api",
)


def _error(request, status, detail, **extra):
    return api.create_response(request, {"detail": detail, **extra}, status=status)


# Names ninja and our single-or-batch unions put into error locations; they mean nothing to a client.
_INTERNAL_LOC = {"body": {"payload", "single", "batch"}, "query": {"filters", "page"}}


def _clean_loc(loc):
    """("body", "payload", "batch", "events", 3, "title") → ["body", "events", 3, "title"]."""
    internal = _INTERNAL_LOC.get(loc[0], set()) if loc else set()
    return [part for i, part in enumerate(loc) if not (i == 1 and part in internal) and not (i == 2 and part in internal)]


def _field_name(loc):
    """["body", "events", 3, "title"] → ("events[3].title", 3): the field as a client would write it."""
    parts = loc[1:]
    index = parts[1] if len(parts) > 1 and parts[0] in BATCH_FIELDS and isinstance(parts[1], int) else None
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or (loc[0] if loc else ""), index


def _human_message(error):
    from events.validation import NO_NUL, NOT_BLANK

    pattern = (error.get("ctx") or {}).get("pattern")
    if error.get("type") == "string_pattern_mismatch" and pattern == NO_NUL:
        return "must not contain NUL (\\u0000) characters"
    if error.get("type") == "string_pattern_mismatch" and pattern == NOT_BLANK:
        return "must not be blank or contain NUL (\\u0000) characters"
    if error.get("type") == "string_unicode":
        return "must be valid Unicode text (no lone surrogate code points)"
    return error.get("msg", "Invalid value.").removeprefix("Value error, ")


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    errors = []
    for error in exc.errors:
        loc = _clean_loc(list(error.get("loc", ())))
        field, index = _field_name(loc)
        # A batch over the limit is "too large", not "invalid": 413, before any per-item complaint.
        if error.get("type") == "too_long" and field in BATCH_FIELDS:
            limit = error.get("ctx", {}).get("max_length")
            return _error(request, 413, f"Too many items: a batch holds at most {limit}; split it into several requests.")
        message = _human_message(error)
        item = {"loc": loc, "field": field, "message": message, "type": error.get("type")}
        if index is not None:
            item["index"] = index
        errors.append(item)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return _error(request, 422, f"Invalid request — {summary}{more}", errors=errors)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    response = _error(
        request, 401, "Missing or unknown API key: send `Authorization: Bearer ah_…` with an active key of this project."
    )
    response["WWW-Authenticate"] = 'Bearer realm="ActivityHub API"'
    return response


@api.exception_handler(Throttled)
def throttled(request, exc):
    from django.conf import settings

    wait = math.ceil(exc.wait or 1)
    # ninja sets Retry-After from the same wait once this handler returns.
    return _error(
        request,
        429,
        f"Rate limit of {settings.API_RATE_LIMIT} requests for this API key exceeded; retry after {wait} s.",
        retry_after=wait,
    )


@api.exception_handler(HttpError)
def http_error(request, exc):
    detail = str(exc)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # ninja hides the parser's reason outside DEBUG; the reason is about the client's own input, so say it.
        detail = f"{detail} as JSON: {exc.__cause__}"
    return _error(request, exc.status_code, detail)


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return _error(request, 403, str(exc) or "Forbidden.")


@api.exception_handler(Http404)
def not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(RequestDataTooBig)
def body_too_big(request, exc):
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(request, 413, f"Request body too large: at most {limit} bytes; send smaller batches.")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_busy(request, exc):
    if not is_transient(exc):
        raise exc
    note_failed_read(exc)  # a replica lost mid-read: the retry goes to the primary
    # The work was rolled back, so the client may retry (with the same Idempotency-Key): a 503, not a 500.
    response = _error(request, 503, "The database is busy; nothing was stored. Retry shortly with the same Idempotency-Key.")
    response["Retry-After"] = "1"
    return response


api.add_router("/", activity_router)
api.add_router("/", conversations_router)
api.add_router("/", monitoring_router)
api.add_router("/", notifications_router)


@login_not_required
@csrf_exempt
def not_found_view(request, *args, **kwargs):
    """Any other path under /api/v1/ (such as /events/abc, a non-integer id): a JSON 404, like every API error."""
    return JsonResponse({"detail": f"Not found: no API endpoint at {request.path}."}, status=404)


def public_urls():
    """api.urls with every view exempt from LoginRequiredMiddleware: the API authenticates by key, not session."""
    from django.urls import URLPattern, URLResolver

    patterns, app_name, namespace = api.urls

    def exempt(items):
        for item in items:
            if isinstance(item, URLResolver):
                exempt(item.url_patterns)
            elif isinstance(item, URLPattern):
                item.callback.login_required = False  # type: ignore[attr-defined]  # the flag LoginRequiredMiddleware reads off a view function

    exempt(patterns)
    return patterns, app_name, namespace
