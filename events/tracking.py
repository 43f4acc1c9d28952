"""Record activity from Python without ever breaking the caller.

    track_activity(project=p, action_type="deployment", action_details="Deployed to fly.io", user=u)
    track_event(project=p, event_type=EventType.CHAT_MESSAGE_SENT, entity_type="chat_message", title="…")

    with tracked_event(project=p, event_type=EventType.INDEXING_STARTED, entity_type="indexing",
                       title="Indexing main") as event:
        run_indexer()          # → COMPLETED with its duration; an exception → FAILED with the error, re-raised

Each write runs in its own atomic block: inside a caller's transaction that is a savepoint, so a failure
(bad value, constraint, database error) rolls back only the tracking row, is logged, and the call returns None.
The caller's own work still commits.
"""

import logging
import time
from contextlib import contextmanager

from django.db import transaction

from .ingest import ingest_actions, ingest_events, update_event, validate_event
from .models.activity import ActionStatus, EventStatus

logger = logging.getLogger("events.tracking")

MAX_ERROR_LENGTH = 1000


def _safely(what, write):
    try:
        with transaction.atomic():
            return write()
    except Exception:
        # Deliberately broad: recording activity must never break the operation being recorded.
        logger.exception("Could not record %s; the caller's operation continues.", what)
        return None


def track_activity(
    *,
    project,
    action_type,
    action_details="",
    user=None,
    request_id=None,
    status=ActionStatus.SUCCESS,
    environment="development",
):
    """Append one audit action. Returns the ProjectAction, or None if it could not be recorded."""

    def write():
        [action] = ingest_actions(
            project,
            [{"action_type": action_type, "action_details": action_details, "request_id": request_id,
              "status": status, "environment": environment}],
            user=user,
        )
        return action

    return _safely(f"audit action {action_type!r}", write)


def track_event(
    *,
    project,
    event_type,
    title,
    entity_type,
    entity_id=None,
    description=None,
    metadata=None,
    user=None,
    status=EventStatus.IN_PROGRESS,
    duration=None,
):
    """Record one activity event. Returns the ActivityEvent, or None if it could not be recorded.

    Checked and stored by `events.ingest` exactly as an API request is. The status defaults to IN_PROGRESS;
    pass COMPLETED/FAILED for an instantaneous event.
    """

    def write():
        item = validate_event(
            event_type=event_type, title=title, entity_type=entity_type, entity_id=entity_id,
            description=description, metadata=metadata, status=status, duration=duration,
        )
        [(event, _)] = ingest_events(project, [item], user=user)
        return event

    return _safely(f"activity event {str(event_type)!r}", write)


def finish_event(event, *, status, duration=None, error=None, metadata=None):
    """Close an IN_PROGRESS event as COMPLETED or FAILED, by the rule PATCH /events/{id} follows
    (`events.ingest.update_event`: metadata merges as a JSON Merge Patch). Returns the changed column names, or
    None if the change could not be recorded (an event already finished with another status, say)."""
    if event is None:
        return None
    patch = dict(metadata or {})
    if error is not None:
        patch["error"] = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
    return _safely(
        f"the end of activity event {event.pk}",
        lambda: update_event(event, status=status, duration=duration, metadata_patch=patch or None, user=event.user),
    )


@contextmanager
def tracked_event(*, project, event_type, title, entity_type, **fields):
    """Open an IN_PROGRESS event, close it COMPLETED with its duration, or FAILED with the error (re-raised).

    Yields the event (or None if it could not be recorded; the block runs either way). If the block raises
    inside a transaction that then rolls back, the FAILED mark rolls back with it, as everything else does.
    """
    event = track_event(
        project=project, event_type=event_type, title=title, entity_type=entity_type,
        status=EventStatus.IN_PROGRESS, **fields,
    )
    started = time.monotonic()
    try:
        yield event
    except BaseException as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        finish_event(event, status=EventStatus.FAILED, duration=elapsed, error=exc)
        raise
    else:
        elapsed = int((time.monotonic() - started) * 1000)
        finish_event(event, status=EventStatus.COMPLETED, duration=elapsed)
