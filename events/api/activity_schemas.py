"""Request and response schemas of the activity API (events, actions, feed, insights). What a valid event is
(EventIn and the field checks every schema here uses) lives in events/validation.py, beside the ingest path that
stores it."""

from datetime import date, datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import Discriminator, Field, Tag, model_validator

from events.filters import EARLIEST_DAY, LATEST_DAY
from events.models.activity import ActionStatus, EventCategory, EventStatus, EventType
from events.validation import (
    MAX_DURATION_MS,
    NO_NUL,
    ActionStatusIn,
    EventIn,
    EventStatusIn,
    FinalEventStatusIn,
    Metadata,
    Name,
    StrictSchema,
    Text,
)
from lib.vocabulary import ALIAS_NOTE, aliases_schema

MAX_BATCH = 1000
MAX_FEED_LIMIT = 200


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
