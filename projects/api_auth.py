"""API-key authentication and the per-key rate limit for django-ninja: `Authorization: Bearer ah_<prefix>_<secret>`.

`request.auth` is the ApiKey (with `.project` and `.can_write`). Unknown or missing keys get 401; a key past its
rate limit gets 429 with Retry-After.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from lib.ratelimit import hit, parse_rate, seconds_to_next_window

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


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window request counter per API key (settings.API_RATE_LIMIT, e.g. "600/min").

    Unlike ninja's SimpleRateThrottle, which stores every request's timestamp in one cached list (read, modify,
    write: lossy under concurrency and O(limit) per request), this counts with lib.ratelimit (the cache's atomic
    add/incr, shared by every worker with REDIS_URL). The instance is shared between threads, so it keeps no
    per-request state.
    """

    def allow_request(self, request) -> bool:
        key = getattr(request, "auth", None)
        if key is None:  # unauthenticated requests never get here (401 first)
            return True
        limit, period = parse_rate(settings.API_RATE_LIMIT)
        return hit("api-rate", key.pk, limit=limit, period=period)

    def wait(self) -> float:
        _, period = parse_rate(settings.API_RATE_LIMIT)
        return seconds_to_next_window(period)
