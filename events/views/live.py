"""The activity feed's and the event page's live channel: one server-sent-events stream per open page.

The stream is woken by lib/live (a publish after every recorded or finished event) and reads what changed from
the database, so its ids are database times: `id:` is the watermark (µs since the epoch) up to which every change
was sent. A reconnecting browser sends it back as Last-Event-ID and the stream replays from there; rows updated
within LAG of the watermark are read again (a transaction commits a little after it stamps updated_at), and the
page drops a row it already shows (static/js/live.js). Messages:

- `new-rows`: rows newer than the page's top row that match its filters (the feed prepends them);
- `event-<pk>`: the current row of an event the page may show (an in-progress row swaps itself for it);
- `close`: the reader may no longer see the project (removed member); the page closes its stream.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from lib import live
from lib.live import sse
from projects.access import get_project_for_member
from projects.models import Membership

from ..filters import ActivityEventFilter
from ..models.activity import FEED_ANNOTATIONS, FEED_COLUMNS, ActivityEvent
from ..pagination import InvalidCursor, decode_cursor
from .activity import _filter_query, poll_seconds

LAG = timedelta(seconds=10)
UPDATES_WINDOW = timedelta(days=1)  # an in-progress row that finishes later than this after it started is not pushed
MAX_ROWS = 100
STREAM_PARAMS = ("top", "since", "only", "last_event_id")  # the stream's own; the rest of its query is the feed's filters


def watermark_id(when: datetime) -> str:
    return str(int(when.timestamp() * 1_000_000))


def parse_watermark(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1_000_000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


class FeedReader:
    """What one open page has been sent, and the reads that find what it has not."""

    def __init__(self, request, project, top_cursor, only, watermark):
        self.request, self.project, self.only = request, project, only
        self.watermark = watermark
        self.sent: dict[int, datetime] = {}  # pk -> updated_at sent, for rows within LAG of the watermark
        self.sent_new: set[int] = set()
        filters = request.GET.copy()
        for key in STREAM_PARAMS:
            filters.pop(key, None)
        self.filters = filters
        self.filter_query = _filter_query(request, filters)
        try:
            self.top = decode_cursor(top_cursor, ActivityEvent.objects.all()) if top_cursor else None
        except InvalidCursor:
            self.top = None

    def _render(self, rows) -> str:
        # Every stream of the same filters sends the same rows: rendered once per process.
        key = (self.project.pk, self.filter_query, tuple((r.pk, r.updated_at) for r in rows))
        html = _rendered.get(key)
        if html is None:
            context = {"project": self.project, "poll_seconds": poll_seconds(), "filter_query": self.filter_query,
                       "live_streams": True, "rows": rows}
            html = render_to_string("events/_live_rows.html", context)
            if len(_rendered) > 1000:
                _rendered.clear()
            _rendered[key] = html
        return html

    def _fresh(self, row) -> bool:
        return self.sent.get(row.pk) != row.updated_at

    def _is_new(self, row, matching: set[int]) -> bool:
        if self.only is not None or row.pk not in matching:
            return False
        if row.pk in self.sent_new:
            return False  # prepended once already: from now on it is an update of that row
        return self.top is None or (row.created_at, row.pk) > self.top

    def _messages(self, rows, matching) -> list[str]:
        new: list = []
        updated: list = []
        for row in rows:
            if not self._fresh(row):
                continue
            (new if self._is_new(row, matching) else updated).append(row)
            self.sent[row.pk] = row.updated_at
        out = []
        if new:
            new.sort(key=lambda r: (r.created_at, r.pk), reverse=True)
            self.sent_new.update(r.pk for r in new)
            out.append(sse.message(self._render(new), event="new-rows", id=watermark_id(self.watermark)))
        out.extend(sse.message(self._render([row]), event=f"event-{row.pk}", id=watermark_id(self.watermark))
                   for row in updated)
        return out

    def _base(self):
        return ActivityEvent.objects.for_project(self.project)

    @staticmethod
    def _rows(queryset):
        """The feed's slim rows (as for_feed) with updated_at, which says whether a row changed since it was sent."""
        return queryset.annotate(**FEED_ANNOTATIONS).values_list(*FEED_COLUMNS, "updated_at", named=True)

    def _matching_ids(self, ids) -> set[int]:
        if self.only is not None:
            return set()
        filterset = ActivityEventFilter(self.filters, queryset=self._base().filter(pk__in=ids), project=self.project)
        if not filterset.is_valid():
            return set()
        return set(filterset.qs.values_list("pk", flat=True))

    def catch_up(self) -> list[str]:
        """Everything changed since the watermark (on open, on resync and as the safety re-read)."""
        now = timezone.now()
        since = self.watermark - LAG
        rows = self._base().filter(updated_at__gt=since, created_at__gte=min(since, now - UPDATES_WINDOW))
        if self.only is not None:
            rows = rows.filter(pk=self.only)
        rows = list(self._rows(rows).order_by("updated_at")[:MAX_ROWS])
        self.watermark = now
        self.sent = {pk: stamp for pk, stamp in self.sent.items() if stamp > now - LAG - LAG}
        return self._messages(rows, self._matching_ids([r.pk for r in rows]))

    def named(self, ids) -> list[int]:
        return [pk for pk in ids if self.only is None or pk == self.only]

    def read_named(self, ids) -> tuple[list, set[int]]:
        """The events a wake-up named (recorded or finished), read by primary key, and which match the filters.
        The same for every stream of these filters (see shared_read)."""
        return list(self._rows(self._base().filter(pk__in=ids))), self._matching_ids(ids)

    def shared_key(self, ids) -> tuple:
        return (self.project.pk, self.filter_query, self.only is None, tuple(ids))

    def changed(self, rows, matching) -> list[str]:
        return self._messages(rows, matching)

    def still_member(self) -> bool:
        return Membership.objects.filter(project=self.project, user=self.request.user).exists()


_rendered: dict[tuple, str] = {}
_in_flight: dict[tuple, asyncio.Future] = {}


async def shared_read(key, function, *args):
    """One database read for every stream of this process that wakes for the same thing at the same moment (200
    open feeds of one project: one read, not 200). None when the database failed it (the next wake-up retries)."""
    future = _in_flight.get(key)
    if future is None:
        future = _in_flight[key] = asyncio.ensure_future(sse.read(function, *args))
        future.add_done_callback(lambda _done: _in_flight.pop(key, None))
    try:
        return await asyncio.shield(future)
    except DatabaseError:
        return None


def _open(request, slug):
    project, _membership = get_project_for_member(request, slug)
    return project


async def feed_stream(request, slug):
    """GET projects/<slug>/activity/live/?<the feed's filters>&top=<cursor>&since=<µs>[&only=<pk>]."""
    project = await sse.check(request, _open, request, slug)  # outsider: 404 before anything is streamed
    if not sse.streams_available(request):
        return sse.unavailable()
    await sse.release_request_connections()
    query = request.GET
    only = query.get("only", "")
    if only and not only.isdigit():
        raise Http404("No such event.")
    watermark = parse_watermark(sse.last_event_id(request)) or parse_watermark(query.get("since", "")) or timezone.now()
    reader = FeedReader(request, project, query.get("top", ""), int(only) if only else None, watermark)
    user_id = request.user.pk

    async def events():
        yield f"retry: {sse.RETRY_MS}\n\n"
        clock = sse.Clock()
        async with live.subscribe(project.pk) as messages:
            for text in await sse.read_changes(reader.catch_up, unchanged=list[str]()):
                yield text
            while not clock.expired():
                wake = await messages.next(timeout=sse.SAFETY_SECONDS)
                if wake is not None and wake.kind == "stopping":
                    return
                membership_changed = wake is not None and wake.kind == "membership" and wake.payload.get("user_id") == user_id
                if (membership_changed or clock.access_due()) and not await sse.read(reader.still_member):
                    yield sse.close_message()
                    return
                if wake is None or wake.kind == "resync":
                    texts = await sse.read_changes(reader.catch_up, unchanged=list[str]())
                elif wake.kind == "events":
                    ids = reader.named([int(pk) for pk in wake.payload.get("ids", [])])
                    result = await shared_read(reader.shared_key(ids), reader.read_named, ids) if ids else None
                    texts = reader.changed(*result) if result else []
                else:
                    continue
                for text in texts:
                    yield text
                if wake is None and not texts:
                    yield ": still here\n\n"  # keeps proxies from closing an idle stream

    return sse.response(events())
