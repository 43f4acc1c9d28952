"""Live fan-out: `publish(project_id, kind, payload)` from any process, `subscribe(project_id)` in an async view.

A message is a wake-up, not the data: a subscriber that wakes reads what changed from the database (where the
stream's ids come from), so a message lost in transit delays a page by one safety re-read, never loses a row.

The transport crosses processes and nodes, never a per-process list:
- Redis pub/sub when `REDIS_URL` is set (every node sharing the Redis hears every publish);
- PostgreSQL `LISTEN/NOTIFY` on a PostgreSQL database (every node on the database);
- on SQLite (one machine by nature) UNIX datagram sockets, one per listening process, in a directory named for
  the database file.
`LIVE_BACKEND` (redis / postgres / sockets) overrides the choice. Each process holds one listener (one Redis or
PostgreSQL connection) however many streams it serves; `subscribe` returns once that listener is listening.

`project_id=None` is the monitoring channel (manager pages are not project-scoped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MONITORING = None  # the channel of pages that are not a project's


@dataclass(frozen=True)
class Message:
    project_id: int | None
    kind: str
    payload: dict = field(default_factory=dict)


def encode(message: Message) -> str:
    return json.dumps({"p": message.project_id, "k": message.kind, "d": message.payload}, separators=(",", ":"))


def decode(raw: str | bytes) -> Message | None:
    try:
        data = json.loads(raw)
        project_id = data["p"]
        return Message(int(project_id) if project_id is not None else None, str(data["k"]), dict(data.get("d") or {}))
    except (ValueError, KeyError, TypeError):
        logger.warning("live: ignored a message that is not ours: %r", raw[:200])
        return None


def backend_name() -> str:
    from django.conf import settings
    from django.db import connections

    chosen = getattr(settings, "LIVE_BACKEND", "")
    if chosen:
        return chosen
    if getattr(settings, "LIVE_REDIS_URL", ""):
        return "redis"
    if connections["default"].vendor == "postgresql":
        return "postgres"
    return "sockets"


def _transport():
    name = backend_name()
    if name == "redis":
        from . import redis_transport

        return redis_transport
    if name == "postgres":
        from . import postgres_transport

        return postgres_transport
    if name == "sockets":
        from . import socket_transport

        return socket_transport
    raise ValueError(f"LIVE_BACKEND={name!r}: choose redis, postgres or sockets")


def publish(project_id: int | None, kind: str, payload: dict | None = None) -> None:
    """Tell every subscriber of `project_id` (on every process and node) that something of `kind` changed.

    Call it once the change is committed (transaction.on_commit). It never raises: a page that misses a wake-up
    catches up on its next safety re-read, while an exception here would break the write that called it."""
    message = Message(project_id, kind, payload or {})
    try:
        _transport().publish(encode(message))
    except Exception:
        logger.warning("live: could not publish %s for project %s", kind, project_id, exc_info=True)


class Subscription:
    def __init__(self, hub: Hub, project_id: int | None):
        self.hub, self.project_id = hub, project_id
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=1000)

    def deliver(self, message: Message) -> None:
        # A full queue: the stream is far behind; it re-reads the database anyway, one wake-up is as good as many.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(message)

    async def next(self, timeout: float) -> Message | None:
        """The next message, or None after `timeout` seconds of silence. kind "stopping": the server shuts down."""
        if self.hub.stopping.is_set():
            return Message(self.project_id, "stopping")
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(self.hub.stopping.wait())
        try:
            done, _ = await asyncio.wait({getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (getter, stopper):
                if not task.done():
                    task.cancel()
        if getter in done:
            return getter.result()
        if stopper in done:
            return Message(self.project_id, "stopping")
        return None


class Hub:
    """One per event loop: one transport listener, fanned out to this process's subscriptions."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.subscriptions: set[Subscription] = set()
        self.listener: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.lock = asyncio.Lock()

    def dispatch(self, message: Message) -> None:
        for subscription in list(self.subscriptions):
            if message.kind == "resync" or subscription.project_id == message.project_id:
                subscription.deliver(message)

    def dispatch_raw(self, raw: str | bytes) -> None:
        message = decode(raw)
        if message is not None:
            self.dispatch(message)

    async def add(self, project_id: int | None) -> Subscription:
        subscription = Subscription(self, project_id)
        async with self.lock:
            self.subscriptions.add(subscription)
            if self.listener is None or self.listener.done():
                self.ready.clear()
                self.listener = asyncio.create_task(self._listen(), name="live-listener")
        await asyncio.wait_for(self.ready.wait(), timeout=10)
        return subscription

    async def remove(self, subscription: Subscription) -> None:
        async with self.lock:
            self.subscriptions.discard(subscription)
            if not self.subscriptions and self.listener is not None:
                self.listener.cancel()
                self.listener = None

    async def _listen(self) -> None:
        transport, delay, first = _transport(), 0.5, True
        while True:
            try:
                await transport.listen(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live: the %s listener failed; retrying in %.1f s", backend_name(), delay, exc_info=True)
            if not first:
                self.dispatch(Message(None, "resync"))  # messages may have been lost meanwhile: everyone re-reads
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_signals_chained: set[int] = set()


def _hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(loop)
        _chain_shutdown_signals()
    return hub


def _chain_shutdown_signals() -> None:
    """Open streams end when the server is asked to stop (uvicorn waits for open responses before it exits):
    SIGTERM/SIGINT set `stopping` and then run the server's own handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGTERM, signal.SIGINT):
        if number in _signals_chained:
            continue
        previous = signal.getsignal(number)
        if not callable(previous):
            continue  # default or ignored: the process is not a server that waits for us

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            for each in list(_hubs.values()):
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    each.loop.call_soon_threadsafe(each.stopping.set)
            previous(signum, frame)

        signal.signal(number, handler)
        _signals_chained.add(number)


@asynccontextmanager
async def subscribe(project_id: int | None) -> AsyncIterator[Subscription]:
    """`async with subscribe(project.pk) as messages: message = await messages.next(timeout=5)`."""
    hub = _hub()
    subscription = await hub.add(project_id)
    try:
        yield subscription
    finally:
        await hub.remove(subscription)
