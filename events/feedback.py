"""The conversations' write layer: an integration starts a conversation, adds messages and reports message events;
a person rates an answer, asks for more, copies it, bookmarks it.

One function per act, shared by the conversation page and the API. Each keeps the feature's promises in the
database: one rating and one "need more" per user per message (partial unique constraints), the copy event's
two stages on one row, and the message always in the FK, never in metadata.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models.messages import Bookmark, Conversation, Feedback, Message, MessageEvent, MessageEventType


def start_conversation(project, *, title, external_id) -> Conversation:
    """A new conversation; IntegrityError when another request stored the same external_id first."""
    with transaction.atomic():
        return Conversation.objects.create(project=project, title=title, external_id=external_id)


def add_messages(rows: list[Message]) -> list[Message]:
    """Store a batch of (validated, unsaved) messages in one INSERT."""
    return Message.objects.bulk_create(rows)


def record_message_event(event: MessageEvent) -> MessageEvent:
    """Store a (validated, unsaved) message event an integration reported."""
    event.save()
    return event


def remove_bookmark(bookmark: Bookmark) -> None:
    bookmark.delete()


def _event_defaults(message, user):
    return {
        "message": message,
        "conversation_id": message.conversation_id,
        "user": user,
        "chunk_ids": list(message.chunk_ids or []),
    }


def _upsert_feedback(message, user, kinds, feedback, metadata):
    """Update the user's feedback row of `kinds` on the message, or insert it; a lost insert race updates."""
    existing = MessageEvent.objects.feedback().filter(message=message, user=user, feedback__in=kinds)
    for _attempt in range(2):
        event = existing.first()
        if event is not None:
            event.feedback = feedback
            event.metadata = metadata
            event.timestamp = timezone.now()
            event.save(update_fields=["feedback", "metadata", "timestamp", "updated_at"])
            return event
        try:
            # A savepoint, so a concurrent click that inserted first leaves this transaction usable.
            with transaction.atomic():
                return MessageEvent.objects.create(
                    event_type=MessageEventType.USER_MESSAGE, feedback=feedback, metadata=metadata,
                    **_event_defaults(message, user),
                )
        except IntegrityError:
            continue  # the other request's row now exists: update it instead of duplicating
    raise IntegrityError("Could not record feedback after a concurrent change; try again.")


def rate(message, user, feedback):
    """Helpful or not helpful. Switching replaces the user's previous rating; repeating it changes nothing."""
    if feedback not in (Feedback.HELPFUL, Feedback.NOT_HELPFUL):
        raise ValueError(f"Not a rating: {feedback!r}")
    current = MessageEvent.objects.ratings().filter(message=message, user=user).first()
    if current is not None and current.feedback == feedback:
        return current
    return _upsert_feedback(message, user, [Feedback.HELPFUL, Feedback.NOT_HELPFUL], feedback, {"feedbackType": feedback})


def ask_for_more(message, user, reasons, specific_situation=""):
    """"Need more" with reasons (scripts, examples, steps, case study) and free text; re-asking updates it."""
    metadata = {
        "feedbackType": Feedback.NEED_MORE,
        "needsMore": sorted(set(reasons)),
        "specificSituation": specific_situation.strip() or None,
    }
    return _upsert_feedback(message, user, [Feedback.NEED_MORE], Feedback.NEED_MORE, metadata)


def record_copy(message, user):
    """Stage 1 of the copy flow: the copy itself, usage not known yet."""
    return MessageEvent.objects.create(
        event_type=MessageEventType.COPY, metadata={"copyUsage": None, "copyContext": None},
        **_event_defaults(message, user),
    )


def record_copy_usage(event, usage, context=""):
    """Stage 2: the answer to "how will you use it?" updates the same copy event (never a second row)."""
    event.metadata = {**(event.metadata or {}), "copyUsage": usage, "copyContext": context.strip() or None}
    event.save(update_fields=["metadata", "updated_at"])
    return event


def toggle_bookmark(message, user):
    """Bookmark the message, or remove the bookmark. Returns True when it is bookmarked afterwards."""
    deleted, _ = Bookmark.objects.filter(message=message, user=user).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Bookmark.objects.create(message=message, user=user)
            MessageEvent.objects.create(event_type=MessageEventType.BOOKMARK, **_event_defaults(message, user))
    except IntegrityError:
        pass  # a double click bookmarked it a moment ago: it is bookmarked, which is what was asked
    return True


@dataclass
class AnswerState:
    """What the signed-in user has already done with one answer: drives the buttons' pressed state."""

    rating: str | None = None
    need_more: MessageEvent | None = None
    bookmarked: bool = False
    reasons: list = field(default_factory=list)
    specific_situation: str = ""


def answer_states(user, messages):
    """{message_id: AnswerState} for the user, in two queries whatever the number of messages."""
    ids = [m.pk for m in messages]
    states = {pk: AnswerState() for pk in ids}
    for event in MessageEvent.objects.feedback().filter(message_id__in=ids, user=user):
        state = states[event.message_id]
        if event.feedback == Feedback.NEED_MORE:
            state.need_more = event
            state.reasons = list((event.metadata or {}).get("needsMore") or [])
            state.specific_situation = (event.metadata or {}).get("specificSituation") or ""
        else:
            state.rating = event.feedback
    for pk in Bookmark.objects.filter(message_id__in=ids, user=user).values_list("message_id", flat=True):
        states[pk].bookmarked = True
    return states
