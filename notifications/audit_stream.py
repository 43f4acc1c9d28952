"""A project's audit trail streamed to its webhook (GitHub's audit log streaming), through the one delivery engine.

    stream_due(now=None)     # the scheduler's `stream-audit-webhooks` job: every active stream, batch after batch
    plan(row, now)           # what the engine asks of stream "audit": where a stored attempt goes, signed how
    after(row, ok, now)      # each outcome: a delivered batch moves the watermark; one that gave up pauses the stream

A stream (projects.models.AuditStream, set up on the project's Settings page) has one batch in flight at a time:
the entries after its watermark (`sent_sequence`), in chain order, up to BATCH_SIZE, stored as one Delivery
(type `audit.entries`, data: the project, `first_sequence`, `last_sequence` and `entries` with their `prev_hash`
and `entry_hash`). The engine signs it with the stream's secret and retries a failure with its backoff
(DELIVERY_NOTIFICATION_*); every attempt carries the same body and delivery id. Only a 2xx moves the watermark,
and only from the batch's first entry − 1 to its last, so no entry is skipped and a delivered batch is never
built again. While a batch waits for its retry no other batch starts; when its last attempt fails the stream is
paused (an entry by "audit streaming") and resuming sends that batch's entries again.
"""

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from events.audit import of_chain
from events.models.audit import hex_of
from events.streaming import LINE_FIELDS
from outbound import engine
from outbound.models import Channel, Delivery, State, Stream
from projects.audit import Actor, acting_as, record
from projects.models import AuditStream

log = logging.getLogger("notifications.audit_stream")

BATCH_SIZE = 100
EVENT_TYPE = "audit.entries"
MAX_ROUNDS = 50  # batches per stream in one run of the job; the next run goes on from the watermark


def _entries(stream) -> list[dict]:
    rows = list(of_chain(stream.project_id).filter(sequence__gt=stream.sent_sequence).order_by("sequence")
                .values(*LINE_FIELDS)[:BATCH_SIZE])
    for row in rows:
        row["prev_hash"], row["entry_hash"] = hex_of(row["prev_hash"]), hex_of(row["entry_hash"])
    return json.loads(json.dumps(rows, cls=DjangoJSONEncoder))  # as the JSON column stores them (times as text)


def in_flight(stream) -> bool:
    """A batch of this stream is queued or being sent (a failed one waiting for its retry included)."""
    return Delivery.objects.filter(destination=stream.destination, source="audit",
                                   state__in=(State.PENDING, State.SENDING)).exists()


def _catch_up(stream) -> None:
    """Move the watermark over a batch already delivered whose outcome hook has not run yet (the engine records the
    2xx, then calls after(); another worker may look in between): that batch is never built again."""
    while True:
        delivered = (Delivery.objects.filter(destination=stream.destination, source="audit", state=State.SUCCEEDED,
                                             source_id__startswith=f"{stream.sent_sequence + 1}-")
                     .values_list("source_id", flat=True).first())
        span = _span(delivered or "")
        if span is None or span[0] != stream.sent_sequence + 1:
            return
        AuditStream.objects.filter(pk=stream.pk, sent_sequence=span[0] - 1).update(sent_sequence=span[1])
        stream.sent_sequence = span[1]


def start_batch(stream_pk) -> int | None:
    """Store the stream's next batch as a pending delivery; its id, or None (paused, gone, a batch already in
    flight, or nothing new). The stream's row is locked meanwhile, so two jobs never build the same batch."""
    with transaction.atomic():
        # Only the stream's row is locked (of=self), not its project's: other writers to the project go on.
        stream = (AuditStream.objects.select_for_update(of=("self",)).select_related("project")
                  .filter(pk=stream_pk).first())
        if stream is None or stream.paused or in_flight(stream):
            return None
        _catch_up(stream)
        entries = _entries(stream)
        if not entries:
            return None
        first, last = entries[0]["sequence"], entries[-1]["sequence"]
        # The batch covers the chain from the watermark on: entries retention removed meanwhile (a gap before
        # `first`) are passed over with it, so the watermark still moves only from where this batch starts.
        covers = f"{stream.sent_sequence + 1}-{last}"
        stream.batches += 1
        stream.save(update_fields=["batches"])
        project = stream.project
        count = f"{len(entries):,} audit entr{'y' if len(entries) == 1 else 'ies'}"
        stored = engine.store(
            stream=Stream.AUDIT, delivery_key=f"{stream.destination}|batch:{stream.batches}", source="audit",
            source_id=covers, project_id=project.pk, destination=stream.destination,
            channel=Channel.WEBHOOK, target=stream.url, event_type=EVENT_TYPE,
            subject=f"{count} of {project.name} (#{first}–#{last})"[:300],
            text=f"{count} of the audit trail of {project.name}, #{first} to #{last} in its hash chain.",
            payload={"project": {"slug": project.slug, "name": project.name}, "first_sequence": first,
                     "last_sequence": last, "entries": entries})
        return stored.pk if stored else None


def _span(source_id: str) -> tuple[int, int] | None:
    first, _, last = source_id.partition("-")
    return (int(first), int(last)) if first.isdigit() and last.isdigit() else None


def batch_range(row) -> tuple[int, int] | None:
    """(first, last) of the chain a batch row covers (its source_id "41-43": from the watermark it was built at
    + 1 to its last entry); None for a test delivery."""
    return _span(row.source_id) if row.source == "audit" else None


def stream_due(*, now=None, rounds=MAX_ROUNDS) -> dict[str, int]:
    """Send every active stream's new entries, batch after batch while they are delivered; {project slug:
    entries delivered}. A stream whose batch failed waits for the engine's retry (outbound.engine.send_due)."""
    delivered: dict[str, int] = {}
    slugs = dict(AuditStream.objects.active().values_list("pk", "project__slug"))
    pending = list(slugs)
    for _ in range(rounds):
        ids = [pk for pk in (start_batch(stream_pk) for stream_pk in pending) if pk]
        if not ids:
            break
        pending = []
        for row in engine.send_now(ids, now=now):
            span = batch_range(row)
            stream_pk = int(row.destination.partition(":")[2])
            if row.state == State.SUCCEEDED and span:
                sent = len(row.payload.get("entries", ()))
                delivered[slugs[stream_pk]] = delivered.get(slugs[stream_pk], 0) + sent
                pending.append(stream_pk)  # delivered: its next batch, if any, goes now
    return delivered


# ----- what the engine asks of this stream (registered in NotificationsConfig.ready) -----


def plan(row, now) -> engine.Plan | None:
    """The stream's current URL and secret; None (not sent: cancelled) once it is removed, or paused (a test
    delivery goes to a paused stream too)."""
    stream = AuditStream.objects.filter(pk=row.destination_id).first()
    if stream is None or (stream.paused and row.source != "ping"):
        return None
    return engine.Plan(targets=[(Channel.WEBHOOK, stream.url)], message=engine.message_of(row), secrets=[stream.secret])


def after(row, ok, now) -> None:
    """A delivered batch moves the watermark (only from where the batch starts: in order, nothing skipped); a
    batch whose last attempt failed pauses the stream, with the reason, so nothing after it goes first."""
    span = batch_range(row)
    if span is None:
        return
    first, last = span
    streams = AuditStream.objects.filter(pk=row.destination_id)
    if ok:
        streams.filter(sent_sequence=first - 1).update(sent_sequence=last)  # or start_batch's _catch_up did
        streams.filter(sent_sequence__gte=last).update(last_delivered_at=now)
        return
    if row.state != State.GAVE_UP:
        return
    reason = (f"Paused {now:%Y-%m-%d %H:%M} UTC: entries #{first}–#{last} could not be delivered in "
              f"{row.attempt} attempts ({row.error}). Resume to send them again.")[:300]
    if streams.filter(paused=False).update(paused=True, paused_reason=reason, updated_at=timezone.now()):
        stream = AuditStream.objects.select_related("project").get(pk=row.destination_id)
        with acting_as(Actor.system("audit streaming")):
            record(stream.project, "audit_stream_paused", target=("audit_stream", stream.pk),
                   details=f"Audit stream to {stream.host} {reason[0].lower()}{reason[1:]}",
                   before={"paused": False}, after={"paused": True})
        log.warning("audit stream of %s paused: %s", stream.project.slug, reason)
