"""Server-sent events for the live pages: the message format, the response, and database reads off the event loop.

A stream's database reads run on a small pool of threads of its own (LIVE_DB_THREADS): 200 open streams share a
handful of connections instead of holding one each, and no read ever blocks the event loop.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, connections
from django.http import HttpResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)

RETRY_MS = 1000  # how soon a browser reconnects after a stream ends (it then sends Last-Event-ID)
SAFETY_SECONDS = 15.0  # a stream re-reads at least this often even without a wake-up (a lost message costs this)
ACCESS_SECONDS = 30.0  # how often a stream re-checks that its reader may still see it
MAX_STREAM_SECONDS = 30 * 60  # a stream ends after this; the browser reconnects where it left off

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None:
        from django.conf import settings

        _pool_size = getattr(settings, "LIVE_DB_THREADS", 4)
        _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="live-db")
    return _pool


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


def stop_pool() -> None:
    """Close the live pool's database connections and end its threads (a server stopping; the tests' ASGI
    server between tests, so no connection outlives the test database)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    workers = _pool_size
    # Each thread closes its own connections (a connection belongs to the thread that opened it): as many
    # closings as threads, each waiting at a barrier so no thread takes two.
    barrier = threading.Barrier(workers, timeout=5)

    def close_and_wait() -> None:
        _close_connections()
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    for future in [pool.submit(close_and_wait) for _ in range(workers)]:
        future.result(timeout=10)
    pool.shutdown(wait=True)


def _with_fresh_connection(function: Callable, args: tuple) -> Any:
    try:
        return function(*args)
    except DatabaseError:
        # A pooled thread keeps its connection between reads; one the database dropped is replaced once.
        _close_connections()
        return function(*args)


async def read(function: Callable, *args: Any) -> Any:
    """Run the sync database read `function(*args)` on the live pool."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), _with_fresh_connection, function, args)


async def read_changes[T](function: Callable[..., T], *args: Any, unchanged: T) -> T:
    """A stream's read of what changed; when the database fails it, `unchanged` (the next wake-up or safety re-read
    tries again from the same watermark) rather than an ended stream."""
    try:
        return await read(function, *args)
    except DatabaseError:
        logger.warning("live: a stream's read failed; it retries on the next wake-up", exc_info=True)
        return unchanged


async def check(request, function: Callable, *args: Any) -> Any:
    """An access check before the stream opens: on the live pool under ASGI; under WSGI (no stream follows) in the
    request's own thread and connection, as any sync view's."""
    if streams_available(request):
        return await read(function, *args)
    return await sync_to_async(function)(*args)


def message(data: str = "", *, event: str | None = None, id: str | None = None) -> str:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


def close_message() -> str:
    """Tells the page to close its stream for good (its element carries sse-close="close")."""
    return message("", event="close")


def streams_available(request) -> bool:
    """Under ASGI a stream costs a coroutine; under WSGI it would hold a whole worker, so the pages poll instead."""
    return isinstance(request, ASGIRequest)


def last_event_id(request) -> str:
    """Where a reconnecting page left off: the header EventSource sends, or (when htmx's SSE extension had to open a
    new EventSource after a failed reconnect) the ?last_event_id= static/js/live.js adds."""
    return request.headers.get("Last-Event-ID", "") or request.GET.get("last_event_id", "")


async def release_request_connections() -> None:
    """The middleware read the session and the user on this request's own thread, whose connection Django closes
    only when the response ends: for a stream, hours later. Closed now, 200 streams hold no 200 connections."""
    await sync_to_async(connections.close_all)()


def response(events: AsyncIterator[str]) -> StreamingHttpResponse:
    answer = StreamingHttpResponse(events, content_type="text/event-stream")
    answer["Cache-Control"] = "no-cache"
    answer["X-Accel-Buffering"] = "no"  # a proxy that buffers would hold every message back
    return answer


def unavailable() -> HttpResponse:
    """Under WSGI: 204 tells EventSource not to reconnect; the page's poll carries on."""
    return HttpResponse(status=204)


class Clock:
    """A stream's own deadlines: when to re-check access, when to end."""

    def __init__(self):
        self.opened = self.checked = time.monotonic()

    def access_due(self) -> bool:
        if time.monotonic() - self.checked >= ACCESS_SECONDS:
            self.checked = time.monotonic()
            return True
        return False

    def expired(self) -> bool:
        return time.monotonic() - self.opened >= MAX_STREAM_SECONDS


def context(request) -> dict:
    """Template context processor: `live_streams` says whether this page may open a stream."""
    return {"live_streams": streams_available(request)}
