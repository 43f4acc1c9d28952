"""The activity API: ingest events and audit actions, finish running events, read the feed and insights.

Every endpoint acts on the project of the API key (`request.auth.project`); an id from another project is a 404.
Writes are atomic (a batch is stored entirely or not at all) and idempotent with an `Idempotency-Key` header;
events are also idempotent by their client-supplied `external_id`.
"""

import json
from datetime import UTC
from typing import Annotated, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponse
from ninja import Body, Path, Query, Router
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError

from events.actions import report_actions
from events.filters import ActivityEventFilter, filter_errors
from events.ingest import ExternalIdConflict, StatusConflict, ingest_events
from events.ingest import update_event as apply_event_change
from events.insights import project_insights
from events.models import ActivityEvent
from events.models.activity import CATEGORY_OF_TYPE
from events.pagination import InvalidCursor, decode_cursor, encode_cursor, newest_rows, older_than
from lib.vocabulary import canonical_status
from projects.api_schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut, IdempotencyKey
from projects.idempotency import idempotent_write, json_response

from .activity_schemas import (
    ActionBatchIn,
    ActionBatchOut,
    ActionOut,
    ActionPayload,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventOut,
    EventPatch,
    EventPayload,
    FeedFilters,
    FeedOut,
    FeedPage,
    InsightsOut,
)

router = Router(tags=["activity"])

MAX_EVENT_ID = 2**63 - 1
# A query string is text: "7" must validate, which an int Literal would refuse.
InsightsDays = Annotated[Literal["7", "30", "90"], Query(description="Window in days.")]


# --- serialisation (plain dicts: cheap for 1,000-item batches, and storable as the idempotent response) -------


def event_dict(event, username=None):
    return {
        "id": event.pk,
        "external_id": event.external_id,
        "event_type": event.event_type,
        "category": str(CATEGORY_OF_TYPE.get(event.event_type, "")),
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "title": event.title,
        "description": event.description,
        "metadata": event.metadata,
        "status": event.status,
        "duration": event.duration,
        "user": username,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
    }


def action_dict(action):
    return {
        "action_id": action.action_id,
        "action_type": action.action_type,
        "action_details": action.action_details,
        "status": canonical_status(action.status),  # the API's words (lib/vocabulary.py): success → COMPLETED
        "environment": action.environment,
        "request_id": action.request_id,
        "created_at": action.created_at,
    }


def _item_error(index, field, message, kind):
    loc = ["body", "events", index, field] if index is not None else ["body", field]
    return {"loc": loc, "msg": message, "type": kind}


# --- events --------------------------------------------------------------------------------------------------


def _duplicate_external_ids(items):
    """ValidationError items for external_ids repeated inside one batch (the batch would contradict itself)."""
    first_seen: dict[str, int] = {}
    errors = []
    for index, item in enumerate(items):
        if item.external_id is None:
            continue
        if item.external_id in first_seen:
            errors.append(
                _item_error(
                    index,
                    "external_id",
                    f"external_id {item.external_id!r} already appears at index {first_seen[item.external_id]} "
                    "of this batch",
                    "duplicate",
                )
            )
        else:
            first_seen[item.external_id] = index
    return errors


def _one_insert(payload, **_):
    """A single event without an external_id: nothing to look up or claim, the write is ONE INSERT."""
    return isinstance(payload, EventIn) and payload.external_id is None


@router.post(
    "/events",
    response={200: EventOut | EventBatchOut, 201: EventOut | EventBatchOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Record one event or a batch of up to 1,000",
)
@idempotent_write(autocommit_when=_one_insert)
def create_events(
    request,
    payload: Body[EventPayload],
    idempotency_key: IdempotencyKey = None,
):
    """Send one event object, or `{"events": [...]}` with 1–1,000 of them (more is a 413).

    A batch is atomic: if any item is invalid nothing is stored, and the 422 lists each problem with its
    `index`. An event whose `external_id` is already stored is not stored again; the response carries the
    stored one (`created: false`). Answers 201 when something was stored, 200 when everything already was.
    """
    batch = isinstance(payload, EventBatchIn)
    items = payload.events if isinstance(payload, EventBatchIn) else [payload]
    duplicates = _duplicate_external_ids(items)
    if duplicates:
        raise NinjaValidationError(duplicates)
    try:
        stored = ingest_events(request.auth.project, items, instances=not batch)
    except ExternalIdConflict as exc:
        raise HttpError(409, str(exc)) from None
    created = sum(1 for _, was_created in stored if was_created)
    status = 201 if created else 200
    if not batch:
        return status, event_dict(stored[0][0])
    return status, {
        "created": created,
        "existing": len(stored) - created,
        "events": [
            {"index": i, "id": e.pk, "external_id": e.external_id, "created": was_created}
            for i, (e, was_created) in enumerate(stored)
        ],
    }


@router.patch(
    "/events/{event_id}",
    response={200: EventOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Finish a running event, set its duration, merge metadata",
)
@idempotent_write
def update_event(
    request,
    event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)],
    payload: Body[EventPatch],
    idempotency_key: IdempotencyKey = None,
):
    """Status moves only from IN_PROGRESS to COMPLETED or FAILED (409 otherwise; repeating the same final status
    is a harmless no-op). Finishing without a `duration` records the time since the event was created."""
    event = (
        ActivityEvent.objects.select_for_update(of=("self",)).select_related("user")
        .filter(project=request.auth.project, pk=event_id).first()
    )
    if event is None:
        raise Http404(f"No event {event_id} in this project.")
    try:
        apply_event_change(event, status=payload.status, duration=payload.duration, metadata_patch=payload.metadata)
    except StatusConflict as exc:
        raise HttpError(409, str(exc)) from None
    except ValueError as exc:
        error = _item_error(None, "metadata", f"merged metadata {exc}", "value_error")
        raise NinjaValidationError([error]) from None
    return 200, event_dict(event, event.user.get_username() if event.user else None)


# --- actions -------------------------------------------------------------------------------------------------


@router.post(
    "/actions",
    response={201: ActionOut | ActionBatchOut, **WRITE_ERRORS},
    summary="Record one audit action or a batch of up to 1,000",
)
@idempotent_write
def create_actions(
    request,
    payload: Body[ActionPayload],
    idempotency_key: IdempotencyKey = None,
):
    """Send one action object, or `{"actions": [...]}` with 1–1,000 of them; a batch is stored entirely or not
    at all. The audit trail is append-only: actions are never changed or deleted. They are stored as reported by
    the key, never as a member's own action."""
    items = payload.actions if isinstance(payload, ActionBatchIn) else [payload]
    actions = report_actions(request.auth.project, items)
    if not isinstance(payload, ActionBatchIn):
        return 201, action_dict(actions[0])
    return 201, {
        "created": len(actions),
        "actions": [{"index": i, "action_id": a.action_id} for i, a in enumerate(actions)],
    }


# --- reading: feed and insights ------------------------------------------------------------------------------


FEED_FIELDS = ("id", "external_id", "event_type", "entity_type", "entity_id", "title", "description", "metadata",
               "status", "duration", "created_at", "updated_at")


def _filtered_events(request, project):
    """The project's events through the activity page's FilterSet; its complaints become a 422 per field."""
    events = ActivityEvent.objects.for_project(project)
    if not any(name in request.GET for name in FeedFilters.model_fields):
        return events  # nothing to filter by: skip building the FilterSet and its form (most API reads)
    filterset = ActivityEventFilter(request.GET, queryset=events, project=project)
    if not filterset.is_valid():
        raise NinjaValidationError(
            [
                {"loc": ["query", field], "msg": message, "type": "invalid"}
                for field, messages in filter_errors(filterset).items()
                for message in messages
            ]
        )
    return filterset.qs


def _checked_cursor(cursor, queryset):
    """(created_at, pk) of a cursor this server could have issued; a 422 on `cursor` otherwise (never a database error)."""
    try:
        created_at, pk = decode_cursor(cursor, queryset)
        created_at.astimezone(UTC)  # SQLite stores UTC: a datetime that overflows there is invalid
        if not 0 < int(pk) <= MAX_EVENT_ID:
            raise InvalidCursor("The cursor is not valid; start again from the first page.")
    except (InvalidCursor, OverflowError, ValueError) as exc:
        message = str(exc) if isinstance(exc, InvalidCursor) else "The cursor is not valid; start again from the first page."
        raise NinjaValidationError([{"loc": ["query", "cursor"], "msg": message, "type": "invalid"}]) from None
    return created_at, pk


@router.get(
    "/feed",
    response={200: FeedOut, **READ_ERRORS},
    summary="The project's events, newest first, with the activity page's filters",
)
def feed(request, filters: Query[FeedFilters], page: Query[FeedPage]):
    """Keyset pagination: follow `next_cursor` until it is null. Pages never skip or repeat an event, even
    while new events arrive (they appear above the first page). Filters combine with AND; `type` and `status`
    take several values."""
    project = request.auth.project
    events = _filtered_events(request, project)
    events = events.order_by("-created_at", "-id")
    before, conditions = None, events.query.where  # the listing's conditions, without its cursor (newest_rows)
    if page.cursor:
        before, pk = _checked_cursor(page.cursor, events)
        events = older_than(events, before, pk)
    # Plain rows, not model instances (the page's keyset pagination, read as values: half the CPU per request);
    # metadata comes as the database's own JSON text and is spliced into the answer as is, instead of being
    # decoded by the driver, again by JSONField, and encoded once more.
    fields = [f for f in FEED_FIELDS if f != "metadata"]
    values = events.values(*fields, username=F("user__username"), metadata_json=Cast("metadata", TextField()))
    # The HTML feed's path: window by window on a partitioned table (events/partitions.py feed_windows).
    rows = newest_rows(values, page.limit + 1, before, conditions)
    items = rows[: page.limit]
    next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"]) if len(rows) > page.limit else None
    encoded = []
    for row in items:
        raw_metadata = row.pop("metadata_json")
        row["category"] = CATEGORY_OF_TYPE.get(row["event_type"], "")
        row["user"] = row.pop("username")
        text = json.dumps(row, cls=DjangoJSONEncoder)
        encoded.append(f'{text[:-1]}, "metadata": {raw_metadata if raw_metadata is not None else "null"}}}')
    body = '{"events": [' + ", ".join(encoded) + '], "next_cursor": ' + json.dumps(next_cursor) + "}"
    return HttpResponse(body, content_type="application/json")


@router.get(
    "/insights",
    response={200: InsightsOut, **READ_ERRORS},
    summary="The counts behind the insights page",
)
def insights(request, filters: Query[FeedFilters], days: InsightsDays = "30"):
    """Counts by type, status and day, duration average and p95 per type, failure rate and plain-language
    summaries over the last `days` days (7, 30 or 90), optionally narrowed by the feed's filters."""
    project = request.auth.project
    events = _filtered_events(request, project)
    return json_response(200, project_insights(project, days=int(days), queryset=events).as_dict())
