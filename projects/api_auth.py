"""API-key authentication and the per-key rate limit for django-ninja: `Authorization: Bearer ah_<prefix>_<secret>`.

`request.auth` is the ApiKey (with `.project` and `.can_write`). Unknown or missing keys get 401; a key past its
rate limit gets 429 with Retry-After.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from .models import ApiKey


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        key = ApiKey.objects.authenticate(token)
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
