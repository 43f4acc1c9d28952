"""Activity feed, event detail, exports, insights and the audit log.

Each page is one view answering both the full page load and its htmx fragments (`events/feed.html#…`).
Filters are validated by the FilterSets in events.filters; paging is keyset (events.pagination): no page
counts the table or uses OFFSET.
"""

import csv
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django_htmx.http import reswap, retarget

from lib.htmx import HtmxHttpRequest
from lib.samples import MIN_PERCENTILE_SAMPLES
from projects.access import get_project_for_member
from projects.charts import Bar, share_bar, stacked_bars
from projects.durations import format_duration

from ..filters import ActivityEventFilter, ProjectActionFilter, filter_errors
from ..insights import DEFAULT_WINDOW, WINDOWS, page_rows, project_insights
from ..models.activity import CATEGORY_OF_TYPE, ActivityEvent, EventStatus, ProjectAction
from ..models.feeds import FeedToken
from ..pagination import (
    InvalidCursor,
    count_newer,
    cursor_for,
    encode_cursor,
    iterate_keyset,
    paginate_keyset,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
NEW_EVENTS_CAP = 100
EXPORT_CHUNK = 5000


def poll_seconds():
    return getattr(settings, "ACTIVITY_POLL_SECONDS", 10)


class PageParams(forms.Form):
    """Paging parameters beside the filters: where to continue, and the newest row the reader has seen."""

    cursor = forms.CharField(required=False, max_length=200)
    newer_than = forms.CharField(required=False, max_length=200)
    feeds = forms.ChoiceField(required=False, choices=[("", "closed"), ("open", "open")])  # the Feeds box, opened


def _filter_query(request, query=None):
    """The current filters as a query string, without paging parameters (for links and exports)."""
    query = (request.GET if query is None else query).copy()
    for key in ("cursor", "newer_than", "feeds"):
        query.pop(key, None)
    return query.urlencode()


# The paging parameters are links, not form fields: name them (and what went wrong) as the reader sees them.
PAGE_PARAM_LABELS = {"cursor": "Link to older entries", "newer_than": "Check for new events", "feeds": "Feeds"}
BAD_PAGE_PARAM = {
    "cursor": "This link is out of date or damaged: start again from the newest entries.",
    "newer_than": "It could not be read: reload the page.",
}


def labelled_errors(errors, form=None):
    """[(label, messages)] from {field name: messages}: "Search", not "q"."""
    labels = {name: str(field.label) for name, field in form.fields.items()} if form is not None else {}
    labels.update(PAGE_PARAM_LABELS, __all__="Filters")
    return [(labels.get(name, name), messages) for name, messages in errors.items()]


RESULTS_ID = {"events/feed.html": "feed-results", "events/audit.html": "audit-results"}


def _bad_request(request: HtmxHttpRequest, template, context, errors, form=None):
    context = {**context, "errors": labelled_errors(errors, form)}
    if request.htmx:
        # Whatever asked (the filters, a "load more" row, the new-events poll), the error replaces the results.
        response = render(request, f"{template}#results", context, status=400)
        return reswap(retarget(response, f"#{RESULTS_ID[template]}"), "outerHTML")
    return render(request, template, context, status=400)


def _keyset_listing(request: HtmxHttpRequest, queryset, template, context, *, banner=False):
    """Shared by the feed and the audit log: validate paging, answer the banner poll, a page, or the page."""
    params = PageParams(request.GET)
    if not params.is_valid():
        return _bad_request(request, template, context, {k: list(v) for k, v in params.errors.items()})
    cursor, newer_than = params.cleaned_data["cursor"], params.cleaned_data["newer_than"]
    if banner and newer_than:
        try:
            new_count = count_newer(queryset, newer_than, cap=NEW_EVENTS_CAP)
        except InvalidCursor:
            return _bad_request(request, template, context, {"newer_than": [BAD_PAGE_PARAM["newer_than"]]})
        return render(request, f"{template}#banner", {**context, "new_count": new_count, "cap": NEW_EVENTS_CAP})
    try:
        page = paginate_keyset(queryset, cursor or None, PAGE_SIZE)
    except InvalidCursor:
        return _bad_request(request, template, context, {"cursor": [BAD_PAGE_PARAM["cursor"]]})
    context.setdefault("feeds_open", params.cleaned_data["feeds"] == "open")
    context.update(
        page=page,
        items=page.items,
        cursor=cursor,
        # The banner counts rows newer than the top one; on an empty page, newer than now.
        top_cursor=cursor_for(page.items[0]) if page.items else encode_cursor(timezone.now(), 0),
        poll_seconds=poll_seconds(),
    )
    if request.htmx and cursor:
        return render(request, f"{template}#page", context)
    if request.htmx and request.htmx.target in ("feed-results", "audit-results"):
        return render(request, f"{template}#results", context)
    return render(request, template, context)


# ----- home -----

HOME_PROJECT_LIMIT = 50


def home_activity_context(projects):
    """Home's activity block: ten most recent events, today's counts and recent failures across `projects`."""
    from ..insights import today_counts

    projects = list(projects[:HOME_PROJECT_LIMIT])
    counts = today_counts(projects) if projects else {s: 0 for s in EventStatus.values}
    return {
        "recent_events": ActivityEvent.objects.recent_across(projects, 10),
        "today_counts": [(EventStatus(s).label, s, n) for s, n in counts.items()],
        "today_total": sum(counts.values()),
        "failures": ActivityEvent.objects.failures_across(projects, days=7, limit=5),
    }


# ----- activity feed -----


def event_filterset(request, project, queryset=None):
    """The feed page's filters over the project's events (the feed's slim rows unless `queryset` says otherwise)."""
    if queryset is None:
        queryset = ActivityEvent.objects.for_project(project).for_feed()
    return ActivityEventFilter(request.GET, queryset=queryset, project=project)


@dataclass(frozen=True)
class FeedLinks:
    atom: str
    json: str
    issued_at: datetime


def feed_links(request, project, filter_query) -> FeedLinks:
    """The signed-in user's feed URLs for the page's current filters (their token is created on first use)."""
    token = FeedToken.objects.for_user(request.user)
    query = QueryDict(mutable=True)
    for key, values in QueryDict(filter_query).lists():
        if any(values):  # the form sends every field; a reader's URL keeps only the filters in use
            query.setlist(key, [v for v in values if v])
    query["token"] = token.token
    return FeedLinks(
        atom=request.build_absolute_uri(reverse("events:feed_atom", args=[project.slug])) + "?" + query.urlencode(),
        json=request.build_absolute_uri(reverse("events:feed_json", args=[project.slug])) + "?" + query.urlencode(),
        issued_at=token.issued_at,
    )


def feed(request, slug):
    project, membership = get_project_for_member(request, slug)
    filterset = event_filterset(request, project)
    context = {
        "project": project,
        "membership": membership,
        "active_tab": "activity",
        "filter": filterset,
        "filter_query": _filter_query(request),
        # Plain usernames for the user select (one flat query, no model instances).
        "member_usernames": filterset.filters["user"].queryset.values_list("username", flat=True),
        # Only the renders that show the Feeds box read (or create) the token: not the polls nor "load more".
        "feeds": SimpleLazyObject(lambda: feed_links(request, project, context["filter_query"])),
    }
    if not filterset.is_valid():
        return _bad_request(request, "events/feed.html", context, filter_errors(filterset), filterset.form)
    return _keyset_listing(request, filterset.qs, "events/feed.html", context, banner=True)


def event_detail(request: HtmxHttpRequest, slug, pk):
    project, membership = get_project_for_member(request, slug)
    event = get_object_or_404(ActivityEvent.objects.select_related("user", "project", "api_key"), pk=pk, project=project)
    # The detail page is opened with the feed's filters in its query: "Back to the activity feed" keeps them.
    context = {"project": project, "membership": membership, "active_tab": "activity", "event": event,
               "filter_query": _filter_query(request)}
    # An IN_PROGRESS row of the feed polls its own detail URL to refresh its status and duration.
    if request.htmx and request.htmx.target == f"event-{event.pk}":
        feed_url = urlsplit(request.htmx.current_url or "")
        context["filter_query"] = _filter_query(request, QueryDict(feed_url.query))  # the row's link keeps them too
        return render(request, "events/feed.html#row", context)
    context["metadata_json"] = json.dumps(event.metadata, indent=2, sort_keys=True, ensure_ascii=False) if event.metadata else ""
    context["duration_text"] = format_duration(event.duration) if event.duration is not None else None
    return render(request, "events/event_detail.html", context)


# ----- exports -----


class _Lines:
    """Collects csv.writer output so rows can be yielded in batches rather than one HTTP chunk per row."""

    def __init__(self):
        self.buffer = io.StringIO()

    def write(self, text):
        self.buffer.write(text)

    def take(self):
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate(0)
        return text


def _iso(value):
    return value.isoformat() if value is not None else None


# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula; a leading ' makes it text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A CSV cell a spreadsheet shows as text: strings that would start a formula get a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def stream_rows(rows, columns, fmt, *, convert, batch=1000):
    """Yield CSV or JSON Lines text for `rows` (tuples in `columns` order), a batch of rows at a time."""
    if fmt == "csv":
        out = _Lines()
        writer = csv.writer(out)
        writer.writerow(columns)
        for i, row in enumerate(rows, 1):
            writer.writerow([csv_safe(cell) for cell in convert(row, csv_cell=True)])
            if i % batch == 0:
                yield out.take()
        yield out.take()
    else:
        lines = []
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for row in rows:
            lines.append(dumps(dict(zip(columns, convert(row, csv_cell=False), strict=True))))
            if len(lines) >= batch:
                yield "\n".join(lines) + "\n"
                lines = []
        if lines:
            yield "\n".join(lines) + "\n"


EVENT_EXPORT_FIELDS = (
    "id", "created_at", "updated_at", "event_type", "status", "title", "description", "entity_type", "entity_id",
    "user__username", "duration", "metadata",
)
EVENT_EXPORT_COLUMNS = (
    "id", "created_at", "updated_at", "event_type", "category", "status", "title", "description", "entity_type",
    "entity_id", "user", "duration_ms", "metadata",
)


def _event_row(row, csv_cell):
    pk, created, updated, event_type, status, title, description, entity_type, entity_id, user, duration, metadata = row
    if csv_cell:
        metadata = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")) if metadata is not None else ""
    return (
        pk, _iso(created), _iso(updated), event_type, CATEGORY_OF_TYPE.get(event_type), status, title, description,
        entity_type, entity_id, user, duration, metadata,
    )


ACTION_EXPORT_FIELDS = (
    "action_id", "created_at", "action_type", "status", "environment", "action_details", "request_id", "user__username",
    "source", "actor_type", "actor_label", "client_address", "user_agent", "target_type", "target_id",
)


def _action_row(row, csv_cell):
    action_id, created, *rest = row
    return (action_id, _iso(created), *rest)


# ----- PostgreSQL: COPY … TO STDOUT streams rows straight from the server (no Python row objects) -----

COPY_BATCH_BYTES = 64 * 1024


def _sql_category():
    """CASE expression mapping event_type to its category (literals from our own enum, no client input)."""
    whens = " ".join(f"WHEN '{t}' THEN '{c}'" for t, c in CATEGORY_OF_TYPE.items())
    return f"CASE e.event_type {whens} END"


_SQL_FORMULA_PREFIXES = "'=', '+', '-', '@', E'\\t', E'\\r'"  # FORMULA_PREFIXES as SQL literals


def _sql_csv_safe(expression):
    """csv_safe in SQL for the COPY path: text starting like a formula gets a leading apostrophe."""
    return f"CASE WHEN left({expression}, 1) IN ({_SQL_FORMULA_PREFIXES}) THEN '''' || {expression} ELSE {expression} END"


EVENT_COPY_SELECT = {
    # column → SQL over the inner query's columns (aliased e.*); timestamps as ISO 8601 like the JSON output.
    "csv": lambda: ", ".join([
        "e.id", "to_json(e.created_at) #>> '{}'", "to_json(e.updated_at) #>> '{}'", "e.event_type", _sql_category(),
        "e.status", *map(_sql_csv_safe, ["e.title", "e.description", "e.entity_type", "e.entity_id", "e.username"]),
        "e.duration", "e.metadata::text",
    ]),
    # JSON Lines: (key, expression) pairs, turned into one object per row by row_to_json (faster than json_build_object).
    "jsonl": lambda: [
        ("id", "e.id"), ("created_at", "e.created_at"), ("updated_at", "e.updated_at"), ("event_type", "e.event_type"),
        ("category", _sql_category()), ("status", "e.status"), ("title", "e.title"), ("description", "e.description"),
        ("entity_type", "e.entity_type"), ("entity_id", "e.entity_id"), ("user", "e.username"),
        ("duration_ms", "e.duration"), ("metadata", "e.metadata"),
    ],
}
EVENT_COPY_ALIASES = ("id", "created_at", "updated_at", "event_type", "status", "title", "description", "entity_type",
                      "entity_id", "username", "duration", "metadata")

ACTION_COPY_SELECT = {
    "csv": lambda: ", ".join([
        "e.action_id", "to_json(e.created_at) #>> '{}'",
        *map(_sql_csv_safe, ["e.action_type", "e.status", "e.environment", "e.action_details", "e.request_id", "e.username"]),
        "e.source", "e.actor_type", _sql_csv_safe("e.actor_label"), "host(e.client_address)",
        *map(_sql_csv_safe, ["e.user_agent", "e.target_type", "e.target_id"]),
    ]),
    "jsonl": lambda: [
        ("action_id", "e.action_id"), ("created_at", "e.created_at"), ("action_type", "e.action_type"),
        ("status", "e.status"), ("environment", "e.environment"), ("action_details", "e.action_details"),
        ("request_id", "e.request_id"), ("user", "e.username"), ("source", "e.source"), ("actor_type", "e.actor_type"),
        ("actor", "e.actor_label"), ("client_address", "host(e.client_address)"), ("user_agent", "e.user_agent"),
        ("target_type", "e.target_type"), ("target_id", "e.target_id"),
    ],
}
ACTION_COPY_ALIASES = ("action_id", "created_at", "action_type", "status", "environment", "action_details",
                       "request_id", "username", "source", "actor_type", "actor_label", "client_address", "user_agent",
                       "target_type", "target_id")


def copy_export_stream(queryset, fields, aliases, select, fmt, header, using):
    """Yield the export of `queryset` as CSV (with header) or JSON Lines, produced by PostgreSQL's COPY on the
    database `using` (the request's read alias: a replica for this lag-tolerant view when one is healthy)."""
    pk = queryset.model._meta.pk.attname
    inner = queryset.order_by("-created_at", f"-{pk}").values_list(*fields)
    sql, params = inner.query.sql_with_params()
    alias_list = ", ".join(aliases)
    order = f"created_at DESC, {aliases[0]} DESC"  # the inner query's order, restated for the outer one
    if fmt == "csv":
        query = f"SELECT {select[fmt]()} FROM ({sql}) AS e({alias_list}) ORDER BY {order}"
        copy = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"
    else:
        columns = ", ".join(f'{expression} AS "{key}"' for key, expression in select[fmt]())
        query = f"SELECT row_to_json(r)::text FROM (SELECT {columns} FROM ({sql}) AS e({alias_list})) AS r ORDER BY {order}"
        # CSV mode with a quote and delimiter that JSON never contains (json escapes control characters):
        # one JSON document per line, with none of text mode's backslash escaping.
        copy = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    if header:
        yield header
    buffer, sent = bytearray(), False
    try:
        with connections[using].cursor() as cursor, cursor.cursor.copy(copy, params) as stream:
            for data in stream:
                buffer += data
                if len(buffer) >= COPY_BATCH_BYTES:
                    sent = True
                    yield bytes(buffer)
                    buffer.clear()
    # COPY is psycopg's own: its errors come unwrapped (every backend's wrapper has .Database; the stubs omit it).
    except (DatabaseError, connections[using].Database.Error) as exc:  # type: ignore[attr-defined]
        # A replica lost before any row went out: the whole export again from the primary (nothing sent twice).
        # Once rows are out it cannot resume without repeating or skipping some: the stream is cut off, and the
        # client sees an unfinished transfer, as with a primary that dies.
        if sent or using == DEFAULT_DB_ALIAS:
            raise
        logger.warning("Read replica %s failed before an export's first row, streaming it from the primary: %s",
                       using, exc)
        connections[using].close()
        yield from copy_export_stream(queryset, fields, aliases, select, fmt, b"", DEFAULT_DB_ALIAS)
        return
    if buffer:
        yield bytes(buffer)


def _streaming_export(rows, columns, fmt, convert, filename, *, copy=None):
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8"
    using = copy[0].db if copy is not None else None  # the alias the router picks now, while the request is on
    if copy is not None and connections[copy[0].db].vendor == "postgresql":
        queryset, fields, aliases, select = copy
        header = (",".join(columns) + "\n").encode() if fmt == "csv" else b""
        stream = copy_export_stream(queryset, fields, aliases, select, fmt, header, using)
    else:
        stream = stream_rows(rows, columns, fmt, convert=convert)
    response = StreamingHttpResponse(stream, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


def plain_bad_request(errors, form=None, heading="Invalid filters."):
    """A 400 in plain text for clients that are not the page (exports, feed readers): each field and what was wrong."""
    lines = [f"{label}: {' '.join(messages)}" for label, messages in labelled_errors(errors, form)]
    return HttpResponse(heading + "\n" + "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8")


def _filter_error_response(filterset):
    return plain_bad_request(filter_errors(filterset), filterset.form)


def feed_export(request, slug, fmt):
    project, _ = get_project_for_member(request, slug)
    filterset = ActivityEventFilter(request.GET, queryset=ActivityEvent.objects.for_project(project), project=project)
    if not filterset.is_valid():
        return _filter_error_response(filterset)
    # Keyset chunks of plain tuples: memory stays flat however many rows match.
    rows = iterate_keyset(filterset.qs, EXPORT_CHUNK, fields=EVENT_EXPORT_FIELDS)
    copy = (filterset.qs, EVENT_EXPORT_FIELDS, EVENT_COPY_ALIASES, EVENT_COPY_SELECT)
    return _streaming_export(rows, EVENT_EXPORT_COLUMNS, fmt, _event_row, f"{project.slug}-activity", copy=copy)


# ----- insights -----


class InsightsForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(d, f"Last {d} days") for d in WINDOWS], coerce=int, required=False, empty_value=DEFAULT_WINDOW,  # type: ignore[arg-type]  # any value is allowed
        label="Window",
    )


def day_chart(by_day, days):
    """Events per day as an SVG bar chart (failed part stacked on top), about six day labels along the axis."""
    every = max(1, len(by_day) // 6)
    bars = [
        Bar(f"{d.day:%a} {d.day.day} {d.day:%b}: {d.total} event{'s' if d.total != 1 else ''}, {d.failed} failed",
            d.total - d.failed, d.failed, label=f"{d.day.day} {d.day:%b}" if i % every == 0 else None)
        for i, d in enumerate(by_day)
    ]
    peak = max((d.total for d in by_day), default=0)
    return stacked_bars(
        bars, width=720, height=180, axis=True,
        label=f"Bar chart of events per day over the last {days} days; the red part of each bar is failures. "
        f"Busiest day: {peak} events.",
    )


def insights(request: HtmxHttpRequest, slug):
    project, membership = get_project_for_member(request, slug)
    data = request.GET.copy()
    data.setdefault("days", str(DEFAULT_WINDOW))  # so the select shows the window actually used
    form = InsightsForm(data)
    context = {"project": project, "membership": membership, "active_tab": "insights", "form": form}
    if not form.is_valid():
        return render(request, "events/insights.html", {**context, "errors": form.errors}, status=400)
    data = project_insights(project, days=form.cleaned_data["days"])
    peak_type = max((n for _, _, n in data.by_type), default=0) or 1
    rows = page_rows(data)
    for row in rows["type_rows"]:
        row["share"] = share_bar(row["count"] / peak_type * 100)
    context.update(
        data=data,
        chart=day_chart(data.by_day, data.days),
        failure_pct=f"{data.failure_rate:.1%}" if data.failure_rate is not None else "—",
        previous_failure_pct=(f"{data.previous.failure_rate:.1%}"
                              if data.previous and data.previous.failure_rate is not None else None),
        min_samples=MIN_PERCENTILE_SAMPLES,
        **rows,
    )
    if request.htmx:
        return render(request, "events/insights.html#body", context)
    return render(request, "events/insights.html", context)


# ----- audit log -----


def audit_log(request, slug):
    project, membership = get_project_for_member(request, slug)
    queryset = ProjectAction.objects.for_project(project).select_related("user")
    filterset = ProjectActionFilter(request.GET, queryset=queryset, project=project)
    context = {
        "project": project,
        "membership": membership,
        "active_tab": "audit",
        "filter": filterset,
        "filter_query": _filter_query(request),
    }
    if not filterset.is_valid():
        return _bad_request(request, "events/audit.html", context, filter_errors(filterset), filterset.form)
    return _keyset_listing(request, filterset.qs, "events/audit.html", context)


def audit_export(request, slug, fmt):
    project, _ = get_project_for_member(request, slug)
    filterset = ProjectActionFilter(request.GET, queryset=ProjectAction.objects.for_project(project), project=project)
    if not filterset.is_valid():
        return _filter_error_response(filterset)
    rows = iterate_keyset(filterset.qs, EXPORT_CHUNK, fields=ACTION_EXPORT_FIELDS)
    columns = ("action_id", "created_at", "action_type", "status", "environment", "action_details", "request_id", "user",
               "source", "actor_type", "actor", "client_address", "user_agent", "target_type", "target_id")
    copy = (filterset.qs, ACTION_EXPORT_FIELDS, ACTION_COPY_ALIASES, ACTION_COPY_SELECT)
    return _streaming_export(rows, columns, fmt, _action_row, f"{project.slug}-audit", copy=copy)
