"""The conversations API: create conversations and (batched) messages, record message events, read them back.

Every endpoint acts on the project of the API key (`request.auth.project`); an id from another project is
treated exactly like an unknown id. Field names are snake_case; the older clients' camelCase (`messageId`, `chunkIds`,
`eventType`, `conversationId`, `externalId`) is accepted too, so the old clients keep working.

Message events name their message by a real foreign key. A `messageId` sent in the body or inside
`metadata` is moved to the FK and stripped from metadata (empty metadata is stored as null); an unknown
messageId, or one from another project, is a 422 that says so (never a 500).
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.db import IntegrityError
from django.http import Http404
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import AfterValidator, AliasChoices, Field, StringConstraints

from events import feedback as acts
from events.models.messages import (
    Conversation,
    Feedback,
    Message,
    MessageEvent,
    MessageEventType,
)
from events.validation import Metadata, StrictSchema, Text, Title, clean_text, not_blank
from projects.api_schemas import WRITE_ERRORS, ErrorOut, IdempotencyKey
from projects.idempotency import idempotent_write

router = Router(tags=["conversations"])

MAX_MESSAGES_PER_BATCH = 500
MAX_DB_ID = 2**63 - 1
# Events that are about one answer cannot exist without it; the others may refer to a conversation only.
NEEDS_MESSAGE = {MessageEventType.USER_MESSAGE, MessageEventType.COPY, MessageEventType.BOOKMARK}


ChunkId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), AfterValidator(clean_text)]
ExternalId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(clean_text), AfterValidator(not_blank)]


def _sane_time(value: datetime) -> datetime:
    # Far-off years overflow when converted to UTC or stored; no real event happened outside this range.
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # naive times are UTC


Timestamp = Annotated[datetime, AfterValidator(_sane_time)]


def _alias(*names):
    return AliasChoices(*names)


class MessageIn(StrictSchema):
    role: Literal["user", "assistant"]
    content: Annotated[Text, Field(min_length=1, max_length=100_000)]
    chunk_ids: list[ChunkId] = Field(default_factory=list, max_length=200, validation_alias=_alias("chunk_ids", "chunkIds"))


class ConversationIn(StrictSchema):
    title: Title
    external_id: ExternalId | None = Field(None, validation_alias=_alias("external_id", "externalId"))
    messages: list[MessageIn] = Field(default_factory=list)


class MessageBatchIn(StrictSchema):
    messages: list[MessageIn] = Field(min_length=1)


class MessageOut(Schema):
    id: int
    role: str
    content: str
    chunk_ids: list[str]
    created_at: datetime


class ConversationOut(Schema):
    id: int
    title: str
    external_id: str | None
    created_at: datetime
    messages: list[MessageOut]


class ConversationSummaryOut(Schema):
    id: int
    title: str
    external_id: str | None
    created_at: datetime


class MessageBatchOut(Schema):
    conversation_id: int
    messages: list[MessageOut]


class MessageEventIn(StrictSchema):
    event_type: Literal[tuple(MessageEventType.values)] = Field(validation_alias=_alias("event_type", "eventType"))  # type: ignore[valid-type]
    # int or str: older clients sent ids as strings; anything not an id of this project is a clear 422.
    message_id: int | str | None = Field(None, validation_alias=_alias("message_id", "messageId"))
    conversation_id: int | None = Field(None, validation_alias=_alias("conversation_id", "conversationId", "sessionId"))
    feedback: Literal["helpful", "not_helpful", "need_more"] | None = None
    chunk_ids: list[ChunkId] | None = Field(None, max_length=200, validation_alias=_alias("chunk_ids", "chunkIds"))
    metadata: Metadata | None = None
    timestamp: Timestamp | None = None


class MessageEventOut(Schema):
    id: int
    event_type: str
    message_id: int | None
    conversation_id: int | None
    feedback: str | None
    chunk_ids: list[str]
    metadata: dict[str, Any] | None
    timestamp: datetime


ERRORS = {**WRITE_ERRORS, 404: ErrorOut, 409: ErrorOut}


def _conversation(request, conversation_id):
    conversation = None
    if conversation_id <= MAX_DB_ID:  # a larger number would overflow the database's bigint: no such row
        conversation = Conversation.objects.filter(pk=conversation_id, project=request.auth.project).first()
    if conversation is None:
        raise Http404(f"No conversation {conversation_id} in this project.")
    return conversation


def _create_messages(conversation, items):
    if len(items) > MAX_MESSAGES_PER_BATCH:
        raise HttpError(413, f"Too many messages: a batch holds at most {MAX_MESSAGES_PER_BATCH}; split it.")
    rows = [
        Message(conversation=conversation, role=item.role, content=item.content, chunk_ids=list(dict.fromkeys(item.chunk_ids)))
        for item in items
    ]
    return acts.add_messages(rows)


def _message_dict(message):
    return {"id": message.pk, "role": message.role, "content": message.content, "chunk_ids": message.chunk_ids,
            "created_at": message.created_at}


def _conversation_out(conversation, messages):
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "external_id": conversation.external_id,
        "created_at": conversation.created_at,
        "messages": [_message_dict(m) for m in messages],
    }


def _event_dict(event):
    return {
        "id": event.pk, "event_type": event.event_type, "message_id": event.message_id,
        "conversation_id": event.conversation_id, "feedback": event.feedback, "chunk_ids": event.chunk_ids,
        "metadata": event.metadata, "timestamp": event.timestamp,
    }


@router.post("/conversations", response={201: ConversationOut, **ERRORS}, summary="Create a conversation (with messages)")
@idempotent_write
def create_conversation(request, payload: ConversationIn, idempotency_key: IdempotencyKey = None):
    """Create a conversation, optionally with its first messages (at most 500), all or nothing.

    `external_id` (your own id) is unique per project: sending it again is a 409 naming the existing
    conversation, so a retried request never creates a duplicate (so does an `Idempotency-Key`).
    """
    project = request.auth.project
    if payload.external_id and (existing := Conversation.objects.filter(project=project, external_id=payload.external_id).first()):
        raise HttpError(409, f"A conversation with external_id {payload.external_id!r} already exists (id {existing.pk}); add messages with POST /api/v1/conversations/{existing.pk}/messages.")
    try:
        conversation = acts.start_conversation(project, title=payload.title, external_id=payload.external_id)
    except IntegrityError:
        # The same external_id arrived twice at once; the other request created it.
        raise HttpError(409, f"A conversation with external_id {payload.external_id!r} already exists.") from None
    messages = _create_messages(conversation, payload.messages)
    return 201, _conversation_out(conversation, messages)


@router.get("/conversations", response={200: list[ConversationSummaryOut], **ERRORS}, summary="Recent conversations")
def list_conversations(request, limit: Query[int] = 50):
    limit = max(1, min(limit, 500))
    return list(Conversation.objects.for_project(request.auth.project).order_by("-created_at", "-id")[:limit])


@router.get("/conversations/{int:conversation_id}", response={200: ConversationOut, **ERRORS}, summary="A conversation with its messages")
def get_conversation(request, conversation_id: int):
    conversation = _conversation(request, conversation_id)
    return _conversation_out(conversation, list(conversation.messages.all()))


@router.post("/conversations/{int:conversation_id}/messages", response={201: MessageBatchOut, **ERRORS}, summary="Add messages (batch)")
@idempotent_write
def add_messages(request, conversation_id: int, payload: MessageBatchIn, idempotency_key: IdempotencyKey = None):
    """Append up to 500 messages to a conversation in one request, all or nothing, in the order given.

    Send an `Idempotency-Key` so that retrying after a lost response does not add the messages twice.
    """
    conversation = _conversation(request, conversation_id)
    messages = _create_messages(conversation, payload.messages)
    return 201, {"conversation_id": conversation.pk, "messages": [_message_dict(m) for m in messages]}


def _message_id(raw):
    """The integer id a client meant, or a 422 saying what was wrong with it."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise HttpError(422, f"messageId must be the integer id of a message in this project, got {raw!r}.")
    text = str(raw).strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_DB_ID:
        raise HttpError(422, f"messageId must be the integer id of a message in this project, got {raw!r}.")
    return int(text)


def _resolve_event(project, payload):
    """Validate a message event against the project; returns the MessageEvent to save (not saved yet)."""
    metadata = dict(payload.metadata or {})
    in_metadata = metadata.pop("messageId", None)
    if payload.message_id is not None and in_metadata is not None and str(payload.message_id).strip() != str(in_metadata).strip():
        raise HttpError(422, f"messageId differs between the body ({payload.message_id!r}) and metadata ({in_metadata!r}); send one.")
    raw = payload.message_id if payload.message_id is not None else in_metadata

    message = None
    if raw is not None:
        message_id = _message_id(raw)
        message = Message.objects.select_related("conversation").filter(pk=message_id, conversation__project=project).first()
        if message is None:
            raise HttpError(422, f"messageId {message_id} does not match any message in this project.")
    elif payload.event_type in NEEDS_MESSAGE:
        raise HttpError(422, f"A {payload.event_type} event is about one answer: give its messageId.")

    conversation = None
    if payload.conversation_id is not None:
        conversation = Conversation.objects.filter(pk=payload.conversation_id, project=project).first() if payload.conversation_id <= MAX_DB_ID else None
        if conversation is None:
            raise HttpError(422, f"conversationId {payload.conversation_id} does not match any conversation in this project.")
        if message is not None and message.conversation_id != conversation.pk:
            raise HttpError(422, f"Message {message.pk} belongs to conversation {message.conversation_id}, not {conversation.pk}.")
    elif message is not None:
        conversation = message.conversation
    else:
        raise HttpError(422, "Give messageId or conversationId: every event belongs to a conversation of this project.")

    feedback = None
    if payload.event_type == MessageEventType.USER_MESSAGE:
        in_meta_feedback = metadata.pop("feedbackType", None)
        feedback = payload.feedback or in_meta_feedback
        if feedback not in Feedback.values:
            raise HttpError(422, "A user_message event needs feedback: helpful, not_helpful or need_more (or metadata.feedbackType).")
        if payload.feedback and in_meta_feedback and payload.feedback != in_meta_feedback:
            raise HttpError(422, "feedback and metadata.feedbackType differ; send one.")
    elif payload.feedback is not None:
        raise HttpError(422, "feedback is only for user_message events.")

    chunk_ids = payload.chunk_ids if payload.chunk_ids is not None else (message.chunk_ids if message else [])
    timestamp = payload.timestamp
    event = MessageEvent(
        message=message,
        conversation=conversation,
        event_type=payload.event_type,
        feedback=feedback,
        chunk_ids=list(dict.fromkeys(chunk_ids)),
        metadata=metadata or None,  # an empty object is stored as null
    )
    if timestamp is not None:
        event.timestamp = timestamp
    return event


@router.post("/message-events", response={201: MessageEventOut, **ERRORS}, summary="Record a message event")
@idempotent_write
def record_message_event(request, payload: MessageEventIn, idempotency_key: IdempotencyKey = None):
    """Record feedback, a copy, a bookmark, an expansion follow-up, a gap submission or a conversation pattern.

    `messageId` may come in the body or inside `metadata` (where older clients put it): either way it is stored in
    the message FK and removed from metadata. user_message events take `feedback` (or `metadata.feedbackType`).
    """
    event = _resolve_event(request.auth.project, payload)
    return 201, _event_dict(acts.record_message_event(event))


@router.get("/messages/{int:message_id}/events", response={200: list[MessageEventOut], **ERRORS}, summary="All events of one message")
def message_events(request, message_id: int):
    """Every event recorded on one message, newest first: one indexed lookup on the message FK."""
    message = Message.objects.filter(pk=message_id, conversation__project=request.auth.project).first() if message_id <= MAX_DB_ID else None
    if message is None:
        raise Http404(f"No message {message_id} in this project.")
    return list(MessageEvent.objects.for_message(message))
