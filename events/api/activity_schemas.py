"""Request and response schemas of the activity API (events, actions, feed, insights).

Every text field refuses what a database would reject later (NUL characters, lone surrogates) and every number
stays inside its column's range, so invalid input is a 422 naming the field, never a database error.
"""

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from events.filters import EARLIEST_DAY, LATEST_DAY
from events.models.activity import ActionStatus, EventCategory, EventStatus, EventType
from lib.vocabulary import ACTION_WORDS, ALIAS_NOTE, aliases_schema, canonical_status, table_word

MAX_BATCH = 1000
MAX_FEED_LIMIT = 200
MAX_METADATA_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_DURATION_MS = 2_147_483_647  # PositiveIntegerField's ceiling on every backend


def clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogate code points)") from None
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def clean_json_object(value: dict) -> dict:
    """Metadata: a JSON object whose strings are all storable, not too deep, at most 64 KiB encoded."""

    def walk(node, depth):
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, str):
            clean_text(node)
        elif isinstance(node, dict):
            for key, item in node.items():
                clean_text(key)
                walk(item, depth + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, depth + 1)

    # Fast path (runs for every event of a batch): one C-encoded dump answers all three questions for typical
    # metadata. Encoding to UTF-8 fails on a lone surrogate; json.dumps writes NUL as the escape \u0000; depth
    # can only exceed the limit if more than MAX_JSON_DEPTH brackets open. Only when the dump hints at a
    # problem (or is too big) does the exact walk below run, so its messages stay the same.
    try:
        text = json.dumps(value, ensure_ascii=False)
        size = len(text.encode())
    except (UnicodeEncodeError, ValueError, RecursionError):
        text, size = None, None
    if text is not None and size is not None and "\\u0000" not in text and text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES // 1024} KiB as JSON")
        return value
    walk(value, 0)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES // 1024} KiB as JSON")
    return value


# Text checks run in pydantic-core (Rust), not in Python, so a 1,000-event batch validates in milliseconds: the
# pattern refuses NUL characters (and, for required names, all-blank values), and a pattern on a str also
# refuses lone surrogates (string_unicode). activityhub/api.py words both errors for humans.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
Text = Annotated[str, Field(pattern=NO_NUL)]
Name = Annotated[str, Field(pattern=NOT_BLANK)]
Title = Annotated[str, Field(min_length=1, max_length=255, pattern=NOT_BLANK)]
Metadata = Annotated[dict[str, Any], AfterValidator(clean_json_object)]


def _action_word(value):
    """The audit trail keeps its own stored words (success, failed, in_progress); the API's words map onto them."""
    return table_word(value, ACTION_WORDS)


# Status words in requests: the API's one vocabulary and its aliases (lib/vocabulary.py), in any letter case.
EventStatusIn = Annotated[EventStatus, BeforeValidator(canonical_status)]
FinalEventStatusIn = Annotated[Literal["COMPLETED", "FAILED"], BeforeValidator(canonical_status)]
ActionStatusIn = Annotated[ActionStatus, BeforeValidator(_action_word)]


class StrictSchema(BaseModel):
    # Plain pydantic (not ninja.Schema, whose ORM-friendly wrapper costs a Python call per object).
    # Unknown fields are refused: a typo ("staus") must not be silently dropped.
    model_config = ConfigDict(extra="forbid")


# --- events --------------------------------------------------------------------------------------------------


class EventIn(StrictSchema):
    event_type: EventType = Field(description="One of the event types, e.g. INDEXING_STARTED.")
    title: Title
    entity_type: Annotated[Name, Field(min_length=1, max_length=64)] = Field(
        description="What the event is about: indexing, apr_session, chat_message, …"
    )
    entity_id: Annotated[Text, Field(max_length=128)] | None = None
    description: Annotated[Text, Field(max_length=20_000)] | None = None
    metadata: Metadata | None = None
    status: EventStatusIn = Field(
        default=EventStatus.IN_PROGRESS, description=f"IN_PROGRESS, COMPLETED or FAILED. {ALIAS_NOTE}",
        json_schema_extra=aliases_schema(EventStatus.values),
    )
    duration: Annotated[int, Field(ge=0, le=MAX_DURATION_MS)] | None = Field(default=None, description="Milliseconds.")
    external_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="Your id for the event, unique in the project: sending it again returns the stored event.",
    )


class EventBatchIn(StrictSchema):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _payload_shape(value) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "single"


EventPayload = Annotated[
    Annotated[EventIn, Tag("single")] | Annotated[EventBatchIn, Tag("batch")],
    Discriminator(_payload_shape),
]


class EventOut(Schema):
    id: int
    external_id: str | None
    event_type: str
    category: str
    entity_type: str
    entity_id: str | None
    title: str
    description: str | None
    metadata: dict[str, Any] | list[Any] | None
    status: str = Field(description="The API's words: IN_PROGRESS, COMPLETED or FAILED.")
    duration: int | None
    user: str | None = Field(description="Username of the person, if a person caused it.")
    created_at: datetime
    updated_at: datetime


class BatchItemOut(Schema):
    index: int
    id: int
    external_id: str | None
    created: bool = Field(description="False when an event with this external_id was already stored.")


class EventBatchOut(Schema):
    created: int
    existing: int
    events: list[BatchItemOut]


class EventPatch(StrictSchema):
    status: FinalEventStatusIn | None = Field(
        default=None, description=f"Only an IN_PROGRESS event changes status, to COMPLETED or FAILED. {ALIAS_NOTE}",
        json_schema_extra=aliases_schema(("COMPLETED", "FAILED")),
    )
    duration: Annotated[int, Field(ge=0, le=MAX_DURATION_MS)] | None = Field(
        default=None, description="Milliseconds; when finishing without one, the time since creation is used."
    )
    metadata: Metadata | None = Field(
        default=None, description="Merged into the stored metadata (JSON Merge Patch, RFC 7396: null removes a key)."
    )

    @model_validator(mode="after")
    def something_to_change(self):
        if self.status is None and self.duration is None and self.metadata is None:
            raise ValueError("send at least one of status, duration, metadata")
        return self


# --- actions -------------------------------------------------------------------------------------------------


class ActionIn(StrictSchema):
    action_type: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="project_created, database_created, endpoints_added, queries_executed, deployment, "
        "github_push, endpoints_modified, tables_added, or your own snake_case type.",
    )
    action_details: Annotated[Text, Field(max_length=10_000)] = ""
    status: ActionStatusIn = Field(
        default=ActionStatus.SUCCESS,
        description="How the action went. The API's words COMPLETED, FAILED and IN_PROGRESS (any letter case, "
        "aliases as for events: SUCCESS, RUNNING) are accepted beside the audit trail's own success, failed and "
        "in_progress; responses say COMPLETED, FAILED or IN_PROGRESS.",
        json_schema_extra=aliases_schema(("COMPLETED", "FAILED", "IN_PROGRESS")),
    )
    environment: Annotated[Name, Field(min_length=1, max_length=32)] = "development"
    request_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None


class ActionBatchIn(StrictSchema):
    actions: list[ActionIn] = Field(min_length=1, max_length=MAX_BATCH)


def _action_shape(value) -> str:
    return "batch" if isinstance(value, dict) and "actions" in value else "single"


ActionPayload = Annotated[
    Annotated[ActionIn, Tag("single")] | Annotated[ActionBatchIn, Tag("batch")],
    Discriminator(_action_shape),
]


class ActionOut(Schema):
    action_id: str
    action_type: str
    action_details: str
    status: str = Field(description="The API's words: COMPLETED, FAILED or IN_PROGRESS.")
    environment: str
    request_id: str | None
    created_at: datetime


class ActionBatchItemOut(Schema):
    index: int
    action_id: str


class ActionBatchOut(Schema):
    created: int
    actions: list[ActionBatchItemOut]


# --- feed ----------------------------------------------------------------------------------------------------


class FeedOut(Schema):
    events: list[EventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null on the last page.")


UsernameQuery = Annotated[str, Field(max_length=150, pattern=NO_NUL)]
EntityTypeQuery = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
SearchQuery = Annotated[str, Field(max_length=200, pattern=NO_NUL)]
CursorQuery = Annotated[str, Field(max_length=200, pattern=NO_NUL)]


class FeedFilters(Schema):
    """The activity page's filters (events.filters.ActivityEventFilter), as query parameters."""

    type: list[EventType] | None = Field(default=None, description="Repeat for several: ?type=A&type=B")
    category: EventCategory | None = None
    status: list[EventStatusIn] | None = Field(
        default=None, description=f"IN_PROGRESS, COMPLETED or FAILED; repeat for several. {ALIAS_NOTE}",
        json_schema_extra=aliases_schema(EventStatus.values),
    )
    user: UsernameQuery | None = Field(default=None, description="Username of a project member.")
    entity_type: EntityTypeQuery | None = None
    since: Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)] | None = Field(
        default=None, description="First day (inclusive, UTC)."
    )
    until: Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)] | None = Field(
        default=None, description="Last day (inclusive, UTC)."
    )
    q: SearchQuery | None = Field(default=None, description="Text search in titles and descriptions.")


class FeedPage(Schema):
    limit: int = Field(default=50, ge=1, le=MAX_FEED_LIMIT, description=f"Events per page, 1–{MAX_FEED_LIMIT}.")
    cursor: CursorQuery | None = Field(default=None, description="next_cursor of the previous page.")


class TypeCountOut(Schema):
    event_type: str
    label: str
    count: int


class DayCountOut(Schema):
    day: date
    total: int
    failed: int


class DurationOut(Schema):
    event_type: str
    label: str
    count: int = Field(description="Timed events of this type: the sample every figure here rests on.")
    avg_ms: float | None
    p95_ms: float | None = Field(description="null below percentile_min_samples timed events: see max_ms.")
    max_ms: float | None = Field(description="The longest timed event of this type.")


class PreviousPeriodOut(Schema):
    since: datetime
    until: datetime = Field(description="Exclusive: where the window shown begins.")
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    failure_rate: float | None


class InsightsOut(Schema):
    days: int
    since: datetime
    total: int
    by_type: list[TypeCountOut]
    by_status: dict[str, int]
    by_day: list[DayCountOut]
    durations: list[DurationOut]
    failure_rate: float | None = Field(description="failed / (completed + failed); null when nothing finished.")
    summaries: list[str]
    previous: PreviousPeriodOut = Field(description="The same counts over the window of the same length just before.")
    percentile_min_samples: int = Field(description="A p95 is given only over at least this many timed events.")
