"""The one way activity events enter the database: the HTTP API and `events.tracking` both call `ingest_events`.

    stored = ingest_events(project, [EventIn(event_type=..., title=..., entity_type=...)], user=None)
    stored  # [(event, created)] in input order

- Validation is `EventIn` (events/validation.py): the API gets it from its request body, tracking
  builds it from keyword arguments with `validate_event`, so both refuse the same values with the same messages.
- Defaults: status IN_PROGRESS (EventIn's default), created_at = updated_at = the moment of the write.
- Idempotency by `external_id`: an item whose external_id is already stored in the project is not stored again;
  the stored event is returned with `created=False`.
- Hook: `events_recorded` is sent once the write has committed (at once in autocommit), with the project and the
  new events' ids. Notifications, partition routing and the like connect to it instead of patching each writer.

Audit actions enter the same way through `ingest_actions` (the API's POST /actions and `track_activity`), which
sends `actions_recorded` (project, action_ids, user) after commit.

And the one way a stored event changes: `update_event` (PATCH /events/{id} and `tracking.finish_event`). Its
rule: the status moves only from IN_PROGRESS to COMPLETED or FAILED (repeating the final status is a no-op),
finishing without a duration records the time since the event was created, metadata merges as a JSON Merge
Patch (RFC 7396) and must stay a valid metadata object. `events_finished` is sent after commit when an event
reaches its final status, so an event recorded IN_PROGRESS that later fails is announced when it fails.
"""

import json
from contextlib import nullcontext
from datetime import timedelta
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from projects.audit import current_actor

from .models.activity import ActionSource, ActivityEvent, EventStatus, ProjectAction
from .models.audit import actor_columns
from .validation import MAX_DURATION_MS, EventIn, clean_json_object

# kwargs: project, event_ids (list of int, input order), user (or None). Sent after commit, never on rollback.
events_recorded = Signal()
# kwargs: project, event_ids (the events that just reached COMPLETED or FAILED), user. After commit, as above.
events_finished = Signal()
# kwargs: project, action_ids (list of str, input order), user (or None). Sent after commit, never on rollback.
actions_recorded = Signal()

ACTION_FIELDS = ("action_type", "action_details", "status", "environment", "request_id")

EVENT_FIELDS = ("event_type", "entity_type", "entity_id", "title", "description", "metadata", "status", "duration",
                "external_id")


class ExternalIdConflict(Exception):
    """Another writer kept storing the same external_id while we retried; the caller may retry later."""


class NewEvent(NamedTuple):
    """What a batch's answer needs of a new event (building 1,000 model instances cost ~50 ms of CPU)."""

    pk: int
    external_id: str | None


def validate_event(**fields) -> EventIn:
    """Keyword arguments checked exactly as the API checks a request body (pydantic ValidationError if not)."""
    return EventIn.model_validate(fields)


# PostgreSQL fast path for batches: the validated items travel as ONE JSON parameter and the database unpacks
# them (jsonb_to_recordset), with ids taken from the sequence first so each item knows its id without relying
# on RETURNING order. Django's bulk_create builds a model object and a placeholder per value (13,000 for a full
# batch), which costs more CPU than the insert itself.
_JSON_INSERT = """
INSERT INTO {table} (id, project_id, user_id, api_key_id, api_key_label, event_type, entity_type, entity_id, title,
                     description, metadata, status, duration, external_id, created_at, updated_at)
SELECT x.id, %s, %s, %s, %s, x.event_type, x.entity_type, x.entity_id, x.title, x.description, x.metadata, x.status,
       x.duration, x.external_id, %s, %s
FROM jsonb_to_recordset(%s::jsonb) AS x(id bigint, event_type text, entity_type text, entity_id text, title text,
                                        description text, metadata jsonb, status text, duration int, external_id text)
"""
_FAST_PATH_MIN = 10  # below this, bulk_create's per-object cost is smaller than the extra round trip for ids


def _model(project, user, item, now, pk=None, api_key_id=None, api_key_label=None):
    fields = {f: getattr(item, f) for f in EVENT_FIELDS}
    event = ActivityEvent(pk=pk, project=project, user=user, api_key_id=api_key_id, api_key_label=api_key_label,
                          created_at=now, updated_at=now, **fields)
    if pk is not None:  # a stored row built in memory: a later save() updates it
        event._state.adding, event._state.db = False, connection.alias
    return event


def _insert(project, user, items, now, api_key_id, api_key_label):
    """Store validated items; return their new ids in order."""
    if connection.vendor != "postgresql" or len(items) < _FAST_PATH_MIN:
        events = [_model(project, user, item, now, api_key_id=api_key_id, api_key_label=api_key_label) for item in items]
        if len(events) == 1:
            events[0].save(force_insert=True)  # one INSERT: atomic by itself, no transaction round trips
        else:
            ActivityEvent.objects.bulk_create(events)
        return [e.pk for e in events]
    table = ActivityEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(items)])
        ids = [pk for (pk,) in cursor.fetchall()]
        records = [{"id": pk, **item.model_dump(include=set(EVENT_FIELDS))} for pk, item in zip(ids, items, strict=True)]
        cursor.execute(
            _JSON_INSERT.format(table=connection.ops.quote_name(table)),
            [project.pk, getattr(user, "pk", None), api_key_id, api_key_label, now, now, json.dumps(records)],
        )
    return ids


# PostgreSQL: the unique index on external_id includes created_at (a partitioned table's unique keys must hold the
# partition key), so it no longer stops a concurrent retry stored a moment later. A transaction-level advisory lock
# per (project, external_id), taken in key order, makes the check-then-insert below one writer at a time per id.
_LOCK_EXTERNAL_IDS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(%s || ':' || x, 0) AS k FROM unnest(%s::text[]) AS x
) AS keys ORDER BY k
"""


def _lock_external_ids(project, external_ids):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_EXTERNAL_IDS, [str(project.pk), list(external_ids)])


def _announce(project, user, ids):
    if ids and events_recorded.has_listeners(ActivityEvent):
        transaction.on_commit(
            lambda: events_recorded.send(sender=ActivityEvent, project=project, event_ids=ids, user=user)
        )


def ingest_events(project, items, *, user=None, instances=True):
    """Store validated `items` (EventIn) in `project`; return [(event, created)] in input order.

    New events come back as model instances carrying their id (built in memory, not read back), or as
    `NewEvent(pk, external_id)` with `instances=False`. Items whose external_id is already stored come back as
    the stored event with created=False. A concurrent writer may store the same external_id between our check
    and our insert: on PostgreSQL an advisory lock per external_id serializes them (the partitioned table's unique
    index holds created_at too); elsewhere the unique constraint rolls back our savepoint and the next round sees
    its row.
    Without external_ids nothing can collide and the write needs no transaction of its own.
    The API key serving the request (projects.audit.current_actor) is stored as the events' recorder, with its label
    (which outlives the key if it is deleted).
    """
    actor = current_actor()  # the key's id and its label: one column more, no query
    api_key_id = actor.key_id
    api_key_label = actor.label[:200] if api_key_id is not None else None
    external_ids = [item.external_id for item in items if item.external_id is not None]
    for _attempt in range(3):
        existing = {}
        try:
            # Only client-supplied ids can collide with a concurrent writer: only then is a savepoint needed.
            with transaction.atomic(savepoint=True) if external_ids else nullcontext():
                if external_ids:
                    _lock_external_ids(project, external_ids)
                    existing = {
                        e.external_id: e
                        for e in ActivityEvent.objects.filter(project=project, external_id__in=external_ids)
                    }
                now = timezone.now()
                new_items = [i for i in items if i.external_id is None or i.external_id not in existing]
                new_ids = _insert(project, user, new_items, now, api_key_id, api_key_label) if new_items else []
        except IntegrityError:
            if not external_ids:
                raise
            continue
        _announce(project, user, new_ids)
        fresh = iter(new_ids)
        results: list[tuple[ActivityEvent | NewEvent, bool]] = []
        for item in items:
            if item.external_id is not None and item.external_id in existing:
                results.append((existing[item.external_id], False))
            elif instances:
                results.append((_model(project, user, item, now, pk=next(fresh), api_key_id=api_key_id,
                                      api_key_label=api_key_label), True))
            else:
                results.append((NewEvent(next(fresh), item.external_id), True))
        return results
    raise ExternalIdConflict("Another request is storing events with the same external_id; retry.")


def ingest_actions(project, items, *, user=None):
    """Append audit actions to `project`; return the stored ProjectActions in input order.

    Each item is a mapping (or an object with attributes) of ACTION_FIELDS; missing fields take the model's
    defaults. All are stored in one INSERT (all or nothing); `actions_recorded` follows the commit.
    """
    now = timezone.now()
    actions = []
    # Reported, not witnessed: marked with who reported it (the API key, or the code's request), never as a
    # member's own action.
    reporter = actor_columns(current_actor())
    for item in items:
        values = item if isinstance(item, dict) else {f: getattr(item, f) for f in ACTION_FIELDS if hasattr(item, f)}
        fields = {**reporter, **{f: values[f] for f in ACTION_FIELDS if f in values}}
        fields["request_id"] = fields.get("request_id") or reporter["request_id"]
        fields["action_details"] = fields.get("action_details") or ""
        actions.append(ProjectAction(project=project, user=user, created_at=now, source=ActionSource.REPORTED,
                                     **fields))
    if len(actions) == 1:
        actions[0].save(force_insert=True)
    elif actions:
        ProjectAction.objects.bulk_create(actions)
    ids = [a.action_id for a in actions]
    if ids and actions_recorded.has_listeners(ProjectAction):
        transaction.on_commit(
            lambda: actions_recorded.send(sender=ProjectAction, project=project, action_ids=ids, user=user)
        )
    return actions


class StatusConflict(Exception):
    """The event already has a final status; only an IN_PROGRESS event can be finished."""


def merge_patch(target, patch):
    """JSON Merge Patch (RFC 7396): objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def update_event(event, *, status=None, duration=None, metadata_patch=None, user=None) -> list[str]:
    """Apply one change to a stored `event` under the module's rule, save the changed columns, return their names.

    The caller holds the row: the API reads it with select_for_update, tracking owns the event it opened.
    Raises StatusConflict (finished already, with another status) or ValueError (merged metadata invalid)
    before anything is written.
    """
    changed = []
    finished = False
    if status is not None and status != event.status:
        if event.status != EventStatus.IN_PROGRESS:
            raise StatusConflict(
                f"Event {event.pk} is already {event.status}; only an IN_PROGRESS event can become {status}."
            )
        event.status, finished = status, True
        changed.append("status")
        if duration is None and event.duration is None:
            elapsed = timezone.now() - event.created_at
            event.duration = max(0, min(int(elapsed / timedelta(milliseconds=1)), MAX_DURATION_MS))
            changed.append("duration")
    if duration is not None:
        event.duration = duration
        changed.append("duration")
    if metadata_patch is not None:
        merged = merge_patch(event.metadata, metadata_patch)
        clean_json_object(merged)  # ValueError with the reason
        event.metadata = merged
        changed.append("metadata")
    if not changed:
        return []
    fields = sorted(set(changed)) + ["updated_at"]  # updated_at is auto_now
    event.save(update_fields=fields)
    if finished and events_finished.has_listeners(ActivityEvent):
        project = event.project
        transaction.on_commit(
            lambda: events_finished.send(sender=ActivityEvent, project=project, event_ids=[event.pk], user=user)
        )
    return fields
