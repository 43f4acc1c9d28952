"""Keyset pagination on (created_at, primary key), newest first, with an opaque cursor.

Shared by the feed, the audit log, exports and the HTTP API:

    page = paginate_keyset(ActivityEvent.objects.for_project(p), request_cursor, limit=50)
    page.items, page.next_cursor   # next_cursor is None on the last page

A cursor names the last row already shown, so rows inserted meanwhile (newer, hence above) never shift the next
page: no gaps, no duplicates, and no COUNT(*) or OFFSET anywhere. A bad cursor raises InvalidCursor (a
ValueError) which views turn into a 400.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from .partitions import feed_windows, remember_reach

MAX_LIMIT = 500


class InvalidCursor(ValueError):
    """The cursor is not one this server issued (tampered, truncated or from another listing)."""


@dataclass(frozen=True)
class KeysetPage:
    items: list
    next_cursor: str | None

    @property
    def has_next(self):
        return self.next_cursor is not None


def _pk_name(queryset):
    return queryset.model._meta.pk.attname


def encode_cursor(created_at: datetime, pk) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_for(obj) -> str:
    """The cursor that continues after `obj` (works for any model with created_at)."""
    return encode_cursor(obj.created_at, obj.pk)


def decode_cursor(cursor: str, queryset) -> tuple[datetime, Any]:
    """(created_at, pk) from a cursor, or InvalidCursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        stamp, pk = raw.rsplit("|", 1)
        created_at = datetime.fromisoformat(stamp)
        pk = queryset.model._meta.pk.to_python(pk)
    except (ValueError, UnicodeError, binascii.Error, TypeError) as exc:
        raise InvalidCursor("The cursor is not valid; start again from the first page.") from exc
    except Exception as exc:  # ValidationError from to_python: same meaning for the client
        raise InvalidCursor("The cursor is not valid; start again from the first page.") from exc
    if created_at.tzinfo is None or pk in (None, ""):
        raise InvalidCursor("The cursor is not valid; start again from the first page.")
    return created_at, pk


def older_than(queryset, created_at, pk):
    """Rows strictly older than the row (created_at, pk), in (created_at, pk) order: the keyset condition."""
    pk_name = _pk_name(queryset)
    # `created_at <= c` is redundant with the OR but is what lets the (…, created_at, id) index range-scan
    # straight to the cursor instead of filtering from the newest row down (which would be OFFSET in disguise).
    return queryset.filter(
        Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | Q(**{f"{pk_name}__lt": pk}))
    )


def after_cursor(queryset, cursor: str):
    """Rows strictly older than the cursor's row."""
    return older_than(queryset, *decode_cursor(cursor, queryset))


def newer_than_cursor(queryset, cursor: str):
    """Rows strictly newer than the cursor's row (used for the "N new events" banner)."""
    created_at, pk = decode_cursor(cursor, queryset)
    pk_name = _pk_name(queryset)
    return queryset.filter(
        Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(**{f"{pk_name}__gt": pk}))
    )


def newest_rows(queryset, n: int, before: datetime | None = None, conditions=None) -> list:
    """The first `n` rows of `queryset` (ordered newest first, every row older than `before` when given).

    On a monthly-partitioned table (events/partitions.py feed_windows) the rows are read window by window, newest
    first — the first page from this month's partition alone — and the next window is read only while the page is
    short, sized from what the windows before it found (or started where the last full page of the same
    `conditions` — the query's WHERE without its cursor — reached). Every row of a window is newer than every row
    of the next, so the parts concatenate in order; without windows (SQLite, a plain table) it is one query.
    `queryset` may be model rows, values() or values_list().
    """
    using = queryset.db
    windows = feed_windows(queryset.model, before, using=using,
                           conditions=queryset.query.where if conditions is None else conditions)
    if windows is None:
        return list(queryset[:n])
    rows: list = []
    window = next(windows)
    while True:
        rows += window.apply(queryset)[: n - len(rows)]
        if len(rows) >= n:
            reached = _created_at(rows[-1])
            if reached is not None:
                remember_reach(queryset.model, using, windows, reached)
            return rows
        try:  # how many it found tells the next window how far back the rest of the page lies
            window = windows.send((len(rows), n))
        except StopIteration:
            return rows


def _created_at(row) -> datetime | None:
    value = row.get("created_at") if isinstance(row, dict) else getattr(row, "created_at", None)
    return value if isinstance(value, datetime) else None


def paginate_keyset(queryset, cursor: str | None = None, limit: int = 50) -> KeysetPage:
    """One page of `queryset` newest first, continuing after `cursor` (None → first page)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    pk_name = _pk_name(queryset)
    queryset = queryset.order_by("-created_at", f"-{pk_name}")
    before, conditions = None, queryset.query.where  # what the pages of one listing share: without the cursor
    if cursor:
        before, pk = decode_cursor(cursor, queryset)
        queryset = older_than(queryset, before, pk)
    # One extra row tells whether another page exists without counting anything.
    rows = newest_rows(queryset, limit + 1, before, conditions)
    items = rows[:limit]
    next_cursor = cursor_for(items[-1]) if len(rows) > limit else None
    return KeysetPage(items=items, next_cursor=next_cursor)


def count_newer(queryset, cursor: str, cap: int = 100) -> int:
    """How many rows are newer than the cursor, counting at most `cap` (the banner shows "99+")."""
    pk_name = _pk_name(queryset)
    newer = newer_than_cursor(queryset, cursor).order_by()
    return len(newer.values_list(pk_name, flat=True)[:cap])


def iterate_keyset(queryset, chunk_size: int = 2000, fields=None):
    """Every row of `queryset` newest first, fetched in keyset chunks (flat memory for exports).

    With `fields`, yields tuples from values_list(*fields); created_at and the pk must be among them.
    """
    pk_name = _pk_name(queryset)
    queryset = queryset.order_by("-created_at", f"-{pk_name}")
    last = None
    while True:
        chunk_qs = queryset
        if last is not None:
            chunk_qs = older_than(chunk_qs, *last)
        if fields:
            chunk = list(chunk_qs.values_list(*fields)[:chunk_size])
            if not chunk:
                return
            i_created, i_pk = fields.index("created_at"), fields.index(pk_name)
            last = (chunk[-1][i_created], chunk[-1][i_pk])
        else:
            chunk = list(chunk_qs[:chunk_size])
            if not chunk:
                return
            last = (chunk[-1].created_at, chunk[-1].pk)
        yield from chunk
        if len(chunk) < chunk_size:
            return
