"""API-key authentication and the per-key rate limit for django-ninja: `Authorization: Bearer ah_<prefix>_<secret>`.

`request.auth` is the ApiKey (with `.project` and `.can_write`). Unknown or missing keys get 401; a key past its
rate limit gets 429 with Retry-After.
"""

import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from .models import _TOKEN_SHAPE, ApiKey, Project, hash_api_token


class _RowLoader:
    """Builds a model instance from its columns in a raw row, with the converters the ORM would apply.

    The key lookup runs on every API request; compiling `ApiKey.objects.active().select_related("project")`
    each time cost about as much CPU as the rest of a feed request's Django work. The SQL is built once per
    process (per database vendor); values still pass through each field's database converters (SQLite's
    datetimes become aware datetimes, etc.), so the instances equal what the ORM returns.
    """

    def __init__(self, model, alias):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.alias = alias
        self.attnames = [f.attname for f in self.fields]

    def columns(self, conn):
        qn = conn.ops.quote_name
        return [f"{qn(self.alias)}.{qn(f.column)}" for f in self.fields]

    def converters(self, conn):
        converters = []
        for i, field in enumerate(self.fields):
            col = field.get_col(self.alias)
            funcs = conn.ops.get_db_converters(col) + field.get_db_converters(conn)
            if funcs:
                converters.append((i, funcs, col))
        return converters

    def build(self, conn, values, converters):
        values = list(values)
        for i, funcs, col in converters:
            for func in funcs:
                values[i] = func(values[i], col, conn)
        return self.model.from_db(conn.alias, self.attnames, values)


_KEY = _RowLoader(ApiKey, "k")
_PROJECT = _RowLoader(Project, "p")
_lookup_cache = {}


def _lookup_plan(conn):
    plan = _lookup_cache.get(conn.vendor)
    if plan is None:
        qn = conn.ops.quote_name
        sql = (
            f"SELECT {', '.join(_KEY.columns(conn) + _PROJECT.columns(conn))} "
            f"FROM {qn(ApiKey._meta.db_table)} {qn('k')} "
            f"JOIN {qn(Project._meta.db_table)} {qn('p')} ON {qn('p')}.{qn('id')} = {qn('k')}.{qn('project_id')} "
            f"WHERE {qn('k')}.{qn('prefix')} = %s AND {qn('k')}.{qn('revoked_at')} IS NULL"
        )
        plan = _lookup_cache[conn.vendor] = (sql, _KEY.converters(conn), _PROJECT.converters(conn))
    return plan


def find_active_key(token: str):
    """ApiKey.objects.authenticate(token) in one precompiled query: the active key (with .project) or None.

    Same rules: the token must be shaped like ours, the key must not be revoked (read from the database on
    every request, so a revocation takes effect at once in every worker), and the keyed hashes must match.
    """
    if not _TOKEN_SHAPE.fullmatch(token or ""):
        return None
    sql, key_converters, project_converters = _lookup_plan(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [token.split("_")[1]])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(_KEY.fields)
    key = _KEY.build(connection, row[:n], key_converters)
    if not hmac.compare_digest(key.key_hash, hash_api_token(token)):
        return None
    key.project = _PROJECT.build(connection, row[n:], project_converters)
    return key


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        key = find_active_key(token)
        if key is None:
            return None
        now = timezone.now()
        # Record use at most once a minute per key, so hot keys don't write on every request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key


def require_write(request):
    """Call at the top of every writing endpoint: a read-only key gets 403."""
    if not request.auth.can_write:
        raise PermissionDenied("This API key is read-only; writing needs a read-write key.")


_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' → (600, 60)."""
    count, _, unit = rate.partition("/")
    return int(count), _PERIODS[unit.strip() or "min"]


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window request counter per API key (settings.API_RATE_LIMIT, e.g. "600/min").

    Unlike ninja's SimpleRateThrottle, which stores every request's timestamp in one cached list (read, modify,
    write: lossy under concurrency and O(limit) per request), this uses the cache's atomic add/incr, so with a
    shared cache (REDIS_URL) every worker counts against the same budget. The instance is shared between
    threads, so it keeps no per-request state.
    """

    def allow_request(self, request) -> bool:
        key = getattr(request, "auth", None)
        if key is None:  # unauthenticated requests never get here (401 first)
            return True
        limit, period = parse_rate(settings.API_RATE_LIMIT)
        window = int(time.time() // period)
        cache_key = f"api-rate:{key.pk}:{period}:{window}"
        if cache.add(cache_key, 1, timeout=period + 5):
            return limit >= 1
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr: this request opens the next window
            cache.add(cache_key, 1, timeout=period + 5)
            count = 1
        return count <= limit

    def wait(self) -> float:
        _, period = parse_rate(settings.API_RATE_LIMIT)
        return max(1.0, period - (time.time() % period))
