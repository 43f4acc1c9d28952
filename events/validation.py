"""What a valid event is, for every way one arrives (the API's body, tracking, the demo, imports): the field
checks, the status words with their aliases, and `EventIn`. events/ingest.py stores what passes; the API's
request and response schemas (events/api/) build on these.

Every text field refuses what a database would reject later (NUL characters, lone surrogates) and every number
stays inside its column's range, so invalid input is a 422 naming the field, never a database error.
"""

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from lib.vocabulary import ACTION_WORDS, ALIAS_NOTE, aliases_schema, canonical_status, table_word

from .models.activity import ActionStatus, EventStatus, EventType

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
