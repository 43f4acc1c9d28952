"""Read replicas: which reads may go to one, and when they must not.

One mechanism decides: `ReplicaReadsMiddleware` marks a request lag-tolerant when it is a GET/HEAD of a view
listed in LAG_TOLERANT (feed, insights, exports, audit log, answer quality, monitoring pages, API reads), and the
router sends that request's reads of the app models to one healthy replica. Everything else reads the primary:
other views, anything inside a transaction, sessions and users (a fresh sign-in must never look signed out),
the rest of a request once it wrote, and the same browser session (cookie) or API key for
REPLICA_READ_YOUR_WRITES_SECONDS after a write (read-your-writes).

Each process probes each replica at most every REPLICA_CHECK_SECONDS: unreachable, or further behind than
REPLICA_MAX_LAG_SECONDS, and reads go to the primary (logged when the state changes). A replica failing in the
middle of a lag-tolerant request makes the view run again on the primary: it only read, so that is safe.
"""

import hashlib
import logging
import math
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

# Views whose GETs may read slightly stale data; a whole namespace by "namespace:*".
LAG_TOLERANT = frozenset(
    {
        "events:feed",
        "events:event_detail",
        "events:feed_export_csv",
        "events:feed_export_jsonl",
        "events:feed_atom",  # the token and membership are read from the primary (events.views.feeds)
        "events:feed_json",
        "events:insights",
        "events:audit",
        "events:audit_export_csv",
        "events:audit_export_jsonl",
        "events:quality",
        "monitoring:*",
        "api:*",
    }
)
# Only these apps' tables are read from a replica; auth, sessions, admin, tasks always read the primary.
REPLICATED_APPS = frozenset({"projects", "events", "monitoring"})
STICKY_COOKIE = "ah_read_primary"
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class _RequestRouting:
    read_alias: str | None = None  # the replica this request reads from, None: the primary
    wrote: bool = False


_routing: ContextVar[_RequestRouting | None] = ContextVar("replica_routing", default=None)


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica")]


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        state = _routing.get()
        if (
            state is None
            or state.read_alias is None
            or model._meta.app_label not in REPLICATED_APPS
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        return state.read_alias

    def db_for_write(self, model, **hints):
        state = _routing.get()
        if state is not None:  # read-your-writes: the rest of this request, and the session after it
            state.wrote = True
            state.read_alias = None
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # a replica holds the same rows as the primary

    # No allow_migrate: a replica holds every table of the primary (check_schema compares them all); migrating
    # a hot standby fails by itself (read-only).


# --- replica health, probed per process ---


@dataclass
class ReplicaHealth:
    alias: str
    reachable: bool
    lag_seconds: float | None = None  # 0 when it has replayed everything the primary had written
    error: str = ""
    checked_at: float = 0.0

    @property
    def usable(self) -> bool:
        return (
            self.reachable
            and self.lag_seconds is not None
            and self.lag_seconds <= settings.REPLICA_MAX_LAG_SECONDS
        )

    def describe(self) -> str:
        if not self.reachable:
            return f"unreachable ({self.error})"
        if self.lag_seconds is None:
            return "lag unknown (nothing replayed yet)"
        return f"{self.lag_seconds:.1f}s behind (limit {settings.REPLICA_MAX_LAG_SECONDS:g}s)"


_health: dict[str, ReplicaHealth] = {}
# When each replica was last seen to have replayed the primary's position: staleness is at most the time since.
_caught_up_at: dict[str, float] = {}


def _primary_wal_position():
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.vendor != "postgresql":
        return None
    with primary.cursor() as cursor:
        cursor.execute("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END")
        return cursor.fetchone()[0]


def probe(alias: str) -> ReplicaHealth:
    """Reach the replica and measure its lag: 0 when it has replayed the primary's current WAL position;
    otherwise the seconds since the last transaction it replayed or since it was last seen caught up, whichever
    is shorter (after an idle spell the last replayed commit is old although the replica is only just behind)."""
    connection = connections[alias]
    try:
        primary_lsn = _primary_wal_position()
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute("SELECT 1")
                return ReplicaHealth(alias, True, 0.0, checked_at=time.monotonic())
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()), "
                "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
                [primary_lsn],
            )
            in_recovery, behind_bytes, since_replay = cursor.fetchone()
    except DatabaseError as exc:
        connection.close()  # the next probe reconnects
        return ReplicaHealth(
            alias,
            False,
            error=str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            checked_at=time.monotonic(),
        )
    now = time.monotonic()
    if not in_recovery or primary_lsn is None or behind_bytes is None or behind_bytes <= 0:
        _caught_up_at[alias] = now
        return ReplicaHealth(alias, True, 0.0, checked_at=now)
    bounds = [max(0.0, float(since_replay))] if since_replay is not None else []
    if alias in _caught_up_at:
        bounds.append(now - _caught_up_at[alias])
    return ReplicaHealth(alias, True, min(bounds) if bounds else None, checked_at=now)


def replica_health(alias: str, *, fresh: bool = False) -> ReplicaHealth:
    """The cached health of one replica, re-probed when older than REPLICA_CHECK_SECONDS; state changes are logged."""
    known = _health.get(alias)
    if (
        not fresh
        and known is not None
        and time.monotonic() - known.checked_at < settings.REPLICA_CHECK_SECONDS
    ):
        return known
    health = probe(alias)
    if known is None or known.usable != health.usable:
        if health.usable:
            logger.info("Read replica %s is in use: %s", alias, health.describe())
        else:
            logger.warning("Read replica %s skipped, reads go to the primary: %s", alias, health.describe())
    _health[alias] = health
    return health


def mark_replica_failed(alias: str, exc: Exception, then: str = "re-running it on the primary") -> None:
    _health[alias] = ReplicaHealth(
        alias,
        False,
        error=str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        checked_at=time.monotonic(),
    )
    connections[alias].close()
    logger.warning("Read replica %s failed during a request, %s: %s", alias, then, exc)


def note_failed_read(exc: Exception) -> None:
    """For the API's 503 on a lost database: if this request read a replica, skip it until the next probe."""
    state = _routing.get()
    if state is not None and state.read_alias is not None:
        mark_replica_failed(state.read_alias, exc, then="the client's retry reads the primary")
        state.read_alias = None


def choose_replica() -> str | None:
    usable = [alias for alias in replica_aliases() if replica_health(alias).usable]
    return random.choice(usable) if usable else None  # noqa: S311  # spreading load, not a secret


# --- the request side ---


def _is_lag_tolerant(request) -> bool:
    match = request.resolver_match
    if request.method not in SAFE_METHODS or match is None:
        return False
    return match.view_name in LAG_TOLERANT or any(f"{ns}:*" in LAG_TOLERANT for ns in match.namespaces)


def _api_sticky_key(request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        return None
    return "replica-read-primary:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]


def _wrote_recently(request) -> bool:
    if request.COOKIES.get(STICKY_COOKIE):
        return True
    key = _api_sticky_key(request)
    return key is not None and cache.get(key) is not None


class ReplicaReadsMiddleware:
    """Routes lag-tolerant reads to a replica (see the module docstring); does nothing without replicas."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_aliases():
            return self.get_response(request)
        state = _RequestRouting()
        _routing.set(state)  # reset by request_finished, after a streaming response has been sent too
        response = self.get_response(request)
        if state.wrote or request.method not in SAFE_METHODS:
            seconds = settings.REPLICA_READ_YOUR_WRITES_SECONDS
            response.set_cookie(
                STICKY_COOKIE,
                "1",
                max_age=seconds,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
            key = _api_sticky_key(request)
            if key is not None:
                cache.set(key, 1, timeout=max(1, math.ceil(seconds)))
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        state = _routing.get()
        if state is None or not _is_lag_tolerant(request) or _wrote_recently(request):
            return None
        state.read_alias = choose_replica()
        request._replica_view = (view_func, view_args, view_kwargs)
        return None

    def process_exception(self, request, exception):
        state = _routing.get()
        if state is None or state.read_alias is None or not isinstance(exception, DatabaseError):
            return None
        view_func, view_args, view_kwargs = request._replica_view
        mark_replica_failed(state.read_alias, exception)
        state.read_alias = None
        return view_func(request, *view_args, **view_kwargs)


def _end_of_request(**kwargs):
    _routing.set(None)


request_finished.connect(_end_of_request, dispatch_uid="activityhub.db_router.end_of_request")
