"""`Idempotency-Key` for API writes: a retried request creates nothing new and gets the original response.

The key is claimed by inserting an IdempotencyRecord in the same transaction as the write. A concurrent retry
with the same key blocks on the unique constraint (PostgreSQL) or the database lock (SQLite) until the first
attempt commits, then replays its stored response; if the first attempt failed (rolled back), the retry runs.
Only successful (2xx) responses are stored: a 4xx changed nothing, so repeating the request is harmless.
"""

import functools
import hashlib
import json
import re

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from ninja.errors import HttpError

from .api_auth import require_write
from .models import IdempotencyRecord

# Printable ASCII without spaces, like the IETF draft's examples (UUIDs, ULIDs, "batch-42-attempt").
KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")
# KEY_SHAPE for the OpenAPI document (documented, not validated by ninja: a bad key is our 400, not a 422).
KEY_SCHEMA = {"pattern": "^[\\x21-\\x7e]{1,255}$", "minLength": 1, "maxLength": 255}
REPLAY_HEADER = "Idempotent-Replayed"


def json_response(status: int, body) -> HttpResponse:
    return HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type="application/json")


class _Rollback(Exception):
    """Carries a non-2xx response out of the transaction so the key's claim is rolled back with the work."""

    def __init__(self, response):
        self.response = response


class _KeyTaken(Exception):
    pass


def fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def _replay(record, request_fingerprint):
    if record.fingerprint != request_fingerprint:
        raise HttpError(
            422,
            "This Idempotency-Key was already used for a different request (method, path or body differ); "
            "use a new key for a new request.",
        )
    response = HttpResponse(record.response_body, status=record.status_code, content_type="application/json")
    response[REPLAY_HEADER] = "true"
    return response


def prune_expired(hours: int = 24) -> int:
    """Forget stored responses older than the replay window (the daily job and manage.py prune_idempotency_keys):
    a later retry with such a key creates anew. They are the API's replay memory, not a project's state, so this is
    not an audited change. Returns how many went."""
    deleted, _ = IdempotencyRecord.objects.expired(hours=hours).delete()
    return deleted


def run_idempotent(request, project, key, work):
    """Run `work()` → (status, body) at most once per (project, key); return the (original) JSON response.

    Without a key, `work` runs in a transaction of its own. `work` may raise HttpError etc.; nothing it wrote
    survives an exception or a non-2xx answer.
    """
    if key is None:
        with transaction.atomic():
            status, body = work()
        return json_response(status, body)
    if not KEY_SHAPE.fullmatch(key):
        raise HttpError(400, "Idempotency-Key must be 1–255 printable ASCII characters without spaces.")
    request_fingerprint = fingerprint(request)
    existing = IdempotencyRecord.objects.filter(project=project, key=key).first()
    if existing is not None:
        return _replay(existing, request_fingerprint)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(project=project, key=key, fingerprint=request_fingerprint)
            except IntegrityError:
                raise _KeyTaken from None
            status, body = work()
            response = json_response(status, body)
            if not 200 <= status < 300:
                raise _Rollback(response)
            record.status_code = status
            record.response_body = response.content.decode()
            record.save(update_fields=["status_code", "response_body"])
    except _Rollback as rollback:
        return rollback.response
    except _KeyTaken:
        # Another request with this key committed while we waited on the constraint: answer as it did.
        return _replay(IdempotencyRecord.objects.get(project=project, key=key), request_fingerprint)
    return response


def idempotent_write(endpoint=None, *, autocommit_when=None):
    """The shape every API write shares, once: a read-only key gets 403, then `endpoint(request, …)` → (status,
    body) runs in a transaction at most once per Idempotency-Key (run_idempotent). The endpoint still declares its
    `idempotency_key` parameter, for django-ninja and the OpenAPI document; the decorator consumes it.

    `autocommit_when(**kwargs)` names the requests whose write is one statement, atomic on its own: sent without
    an Idempotency-Key they run in autocommit, without the BEGIN and COMMIT round trips of a transaction."""
    if endpoint is None:
        return functools.partial(idempotent_write, autocommit_when=autocommit_when)

    @functools.wraps(endpoint)
    def write(request, *args, idempotency_key=None, **kwargs):
        require_write(request)

        def work():
            return endpoint(request, *args, **kwargs)

        if idempotency_key is None and autocommit_when is not None and autocommit_when(**kwargs):
            return json_response(*work())
        return run_idempotent(request, request.auth.project, idempotency_key, work)

    return write
