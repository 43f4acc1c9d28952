"""A fixed-window request counter in the cache: the one rate limit of the API keys and the ping URLs.

    allowed = hit("api-rate", key.pk, limit=600, period=60)

It uses the cache's atomic add/incr, so with a shared cache (REDIS_URL) every web process counts against the
same budget; with the per-process default cache each process counts on its own (deploy checks warn).
"""

import time

from django.core.cache import cache

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' → (600, 60)."""
    count, _, unit = rate.partition("/")
    return int(count), _PERIODS[unit.strip() or "min"]


def hit(scope: str, subject: object, *, limit: int, period: int) -> bool:
    """Count one request of `subject` in the current window; False once the window holds more than `limit`."""
    window = int(time.time() // period)
    cache_key = f"{scope}:{subject}:{period}:{window}"
    if cache.add(cache_key, 1, timeout=period + 5):
        return limit >= 1
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this request opens the next window
        cache.add(cache_key, 1, timeout=period + 5)
        count = 1
    return count <= limit


def seconds_to_next_window(period: int) -> float:
    """What Retry-After says: the rest of the current window (at least a second)."""
    return max(1.0, period - (time.time() % period))
