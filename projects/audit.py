"""The audit trail's one entry point: every change to a project's state is recorded by `record()`, called from the
apps' actions modules (projects/actions.py, monitoring/actions.py, notifications/actions.py, events/actions.py).

    with acting_as(Actor.system("retention pruning")):
        record(project, "retention_changed", target=("project", project.slug), before={...}, after={...})

Who acted is not an argument: it is the request being served (AuditContextMiddleware keeps it; the API key that
authenticated it wins over the session), or what `acting_as()` says (scheduler jobs, management commands). The
entry is written by the events app (it owns the hash-chained table), which listens to `audit_recorded`; projects
never imports events.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.dispatch import Signal

from lib.client import client_ip

# kwargs: entry (an AuditRecord). The events app's receiver writes it and returns the stored ProjectAction.
audit_recorded = Signal()

REQUEST_ID = re.compile(r"[-A-Za-z0-9_.:]{1,128}")
MAX_USER_AGENT = 300


class ActorType:
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    CHOICES = [(USER, "Member"), (API_KEY, "API key"), (SYSTEM, "ActivityHub")]


@dataclass(frozen=True)
class Actor:
    type: str
    label: str  # what the audit page shows: a username, "Key “deploy bot” (ah_1a2b3c4d_…)", "retention pruning"
    user: object = None
    key_prefix: str = ""
    key_id: int | None = None  # the ApiKey's pk: activity events recorded by a key point at it
    address: str | None = None
    user_agent: str = ""
    request_id: str | None = None

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(type=ActorType.SYSTEM, label=label)

    @classmethod
    def for_user(cls, user, **where) -> Actor:
        return cls(type=ActorType.USER, label=user.get_username(), user=user, **where)

    @classmethod
    def for_key(cls, key, **where) -> Actor:
        return cls(type=ActorType.API_KEY, label=key_label(key), key_prefix=key.prefix, key_id=key.pk, **where)


def key_label(key) -> str:
    return label_for_key(key.name, key.prefix)


def label_for_key(name: str, prefix: str) -> str:
    """How a person reads an API key wherever it acted (the audit page, the feed, an event's page)."""
    return f"API key “{name}” (ah_{prefix}_…)"


def request_id_of(request) -> str:
    """The request's id: the one a proxy set in X-Request-ID when it has a sane shape, else a new one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def actor_of(request) -> Actor:
    """Who is behind `request`: its API key (django-ninja's request.auth), else its signed-in user."""
    where = {
        "address": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
        "request_id": getattr(request, "request_id", None) or request_id_of(request),
    }
    key = getattr(request, "auth", None)
    if key is not None and hasattr(key, "prefix"):
        return Actor.for_key(key, **where)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor.for_user(user, **where)
    return Actor(type=ActorType.SYSTEM, label="an anonymous request", **where)


_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)
_override: contextvars.ContextVar = contextvars.ContextVar("audit_actor", default=None)
# Outside a request and outside acting_as(): a management command or a shell, run by an operator.
FALLBACK = Actor.system("a management command")


def current_actor() -> Actor:
    actor = _override.get()
    if actor is not None:
        return actor
    request = _request.get()
    if request is not None:
        return actor_of(request)
    return FALLBACK


@contextmanager
def acting_as(actor: Actor):
    token = _override.set(actor)
    try:
        yield actor
    finally:
        _override.reset(token)


@contextmanager
def serving(request):
    """Set by AuditContextMiddleware around each request."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


@dataclass
class AuditRecord:
    project: object  # a Project, or None for a site-wide object (a health check of no project)
    action: str
    actor: Actor
    target_type: str = ""
    target_id: str = ""
    details: str = ""
    changes: dict = field(default_factory=dict)
    environment: str = ""


def diff(before: dict, after: dict) -> dict:
    """{field: [old, new]} for the fields whose value changed (values as the audit page shows them)."""
    return {k: [_plain(before.get(k)), _plain(after.get(k))] for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)}


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record(project, action: str, *, target=("", ""), details: str = "", before: dict | None = None,
           after: dict | None = None, changes: dict | None = None, environment: str = ""):
    """Append one witnessed entry to `project`'s audit trail; return the stored entry.

    `before`/`after` give the settings as they were and are (only the changed ones are kept); `changes` adds
    anything else the entry should say in figures (rows removed by retention). Raises if nothing listens: an
    entry is never dropped silently.
    """
    values = diff(before or {}, after or {})
    values.update(changes or {})
    entry = AuditRecord(project=project, action=action, actor=current_actor(), target_type=target[0],
                        target_id=str(target[1]), details=details, changes=values, environment=environment)
    answers = audit_recorded.send(sender=AuditRecord, entry=entry)
    if not answers:
        raise RuntimeError("No audit writer is connected (is the events app installed?).")
    return answers[0][1]
