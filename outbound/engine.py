"""The one delivery loop: queue an attempt, send what is due, record the outcome, queue the retry.

    queue(rows)                       # store first attempts (an attempt already stored is not stored again)
    store(**fields) -> Delivery|None  # store one attempt; None when another worker stored it first
    send_now(ids, now=None)           # send these pending attempts at once (a notification batch, a redelivery)
    send_due(now=None, batch=200)     # the loop: every due attempt (first ones and retries), until none is due
    redeliver(row) -> Delivery|None   # a manual attempt of the same message, same delivery_id
    retry_delay(attempt, base=…)      # the one backoff (outbound.delivery), used by the task retries too

Each stream (an app that sends) registers how to send its rows with `register(stream, resolve=…, after=…)` in its
AppConfig.ready(): `resolve(row, now)` returns the Plan (targets, signing secrets, the message) or None when the row
must not be sent any more (its subscription was disabled); `after(row, ok, now)` sees each outcome (a report is
marked notified, a failing endpoint is counted). A stream without a registration sends to the row's own
channel and target.

A failed automatic attempt queues the next one (attempt n+1, `next_attempt_at` = now + retry_delay) until
policy(stream).max_attempts; the last is GAVE_UP. A queued retry is also a task (`send_due_deliveries`, run
after its time) so it is made even where no monitoring daemon runs; the daemon's pass runs the same loop.
A manual redelivery that succeeds cancels the automatic retry still queued for the same delivery.
Settings (one family): DELIVERY_TIMEOUT_SECONDS, DELIVERY_RETRY_JITTER, DELIVERY_ALERT_MAX_ATTEMPTS,
DELIVERY_ALERT_RETRY_BASE_SECONDS, DELIVERY_NOTIFICATION_MAX_ATTEMPTS, DELIVERY_NOTIFICATION_RETRY_BASE_SECONDS
(activityhub/settings.py reads the older MONITORING_* and NOTIFICATIONS_* names as fallbacks).
"""

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.tasks import task
from django.utils import timezone

from lib import claims

from .channels import send
from .delivery import Attempt, Message, retry_delay
from .models import Delivery, State, Stream
from .rendering import Notice, render

log = logging.getLogger("outbound.engine")

# A claim older than this belongs to a process that stopped mid-send; the attempt is recorded as unknown.
STALE_SEND_CLAIM = timedelta(minutes=10)
OUTCOME_FIELDS = ["state", "status_code", "latency_ms", "response_excerpt", "error", "request_headers",
                  "request_body", "response_headers", "sent_at"]
COPIED_FIELDS = ("stream", "delivery_key", "delivery_id", "source", "source_id", "project_id", "destination",
                 "channel", "target", "event_type", "subject", "text", "payload", "notice")


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    base_seconds: float
    jitter: float
    timeout: float


def policy(stream: str) -> Policy:
    """The retry policy of a stream, from the DELIVERY_* settings (the audit stream retries as notifications do)."""
    name = "ALERT" if stream == Stream.ALERT else "NOTIFICATION"
    return Policy(
        max_attempts=max(1, int(getattr(settings, f"DELIVERY_{name}_MAX_ATTEMPTS", 5))),
        base_seconds=float(getattr(settings, f"DELIVERY_{name}_RETRY_BASE_SECONDS", 30)),
        jitter=float(getattr(settings, "DELIVERY_RETRY_JITTER", 0.1)),
        timeout=float(getattr(settings, "DELIVERY_TIMEOUT_SECONDS", 10)),
    )


def backoff(stream: str, attempt: int, base: float | None = None) -> timedelta:
    """The wait before attempt `attempt + 1` of a delivery of `stream`, after attempt `attempt` failed."""
    rules = policy(stream)
    return retry_delay(attempt, base=rules.base_seconds if base is None else base, jitter=rules.jitter)


@dataclass
class Plan:
    """How one stored attempt is sent: to each target, signed with these secrets (webhooks), this message."""

    targets: list[tuple[str, str]]
    message: Message
    secrets: list[str] = field(default_factory=list)
    empty_reason: str = "nothing to send to"


@dataclass(frozen=True)
class StreamHooks:
    resolve: Callable[[Delivery, datetime], Plan | None] | None = None
    after: Callable[[Delivery, bool, datetime], None] | None = None


_STREAMS: dict[str, StreamHooks] = {}


def register(stream: str, *, resolve=None, after=None) -> None:
    _STREAMS[stream] = StreamHooks(resolve=resolve, after=after)


def message_of(row: Delivery) -> Message:
    """The message a row stores, rendered for every channel (outbound.rendering) when it carries a notice; else
    its subject, text and payload as they are. The delivery id is the same on every attempt."""
    if row.notice:
        return render(Notice(event_type=row.event_type, delivery_id=row.delivery_id, data=row.payload or {},
                             sentence=row.notice.get("sentence", row.subject),
                             details=tuple(row.notice.get("details", ())), actor=row.notice.get("actor", ""),
                             event_url=row.notice.get("event_url", ""), manage_url=row.notice.get("manage_url", ""),
                             unsubscribe_url=row.notice.get("unsubscribe_url", "")))
    return Message(event_type=row.event_type, subject=row.subject, text=row.text, payload=row.payload or {},
                   delivery_id=row.delivery_id)


def plan_of(row: Delivery, now: datetime) -> Plan | None:
    hooks = _STREAMS.get(row.stream)
    if hooks and hooks.resolve:
        return hooks.resolve(row, now)
    return Plan(targets=[(row.channel, row.target)] if row.target else [], message=message_of(row))


def _send_plan(plan: Plan | None, timeout: float, now: datetime) -> list[Attempt] | None:
    """Every target's attempt (touches no database, so it runs on threads)."""
    if plan is None:
        return None
    results = [send(channel, target, plan.message, secrets=plan.secrets, timeout=timeout, now=now)
               for channel, target in plan.targets]
    return results or [Attempt(False, None, 0, "", plan.empty_reason)]


# ----- storing -----


def store(**fields) -> Delivery | None:
    """Store one pending attempt; None when another worker stored the same attempt first."""
    try:
        with transaction.atomic():
            return Delivery.objects.create(**fields)
    except IntegrityError:
        return None


def queue(rows: Iterable[Delivery]) -> int:
    """Store first attempts in one statement; an attempt already stored is skipped. Returns how many are new."""
    rows = list(rows)
    if not rows:
        return 0
    keys = {row.delivery_key for row in rows}
    before = Delivery.objects.filter(delivery_key__in=keys, attempt=1).count()
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return Delivery.objects.filter(delivery_key__in=keys, attempt=1).count() - before


def _next_attempt(previous: Delivery, *, number: int, manual: bool, when: datetime) -> Delivery | None:
    fields = {name: getattr(previous, name) for name in COPIED_FIELDS}
    return store(**fields, attempt=number, manual=manual, next_attempt_at=when, created_at=when)


def redeliver(row: Delivery, *, now=None) -> Delivery | None:
    """A new manual attempt of the same message with the same delivery_id, stored now and sent by a task after
    commit (once: a manual attempt that fails is not retried on its own)."""
    now = now or timezone.now()
    for _ in range(3):
        latest = Delivery.objects.filter(delivery_key=row.delivery_key).aggregate(n=Max("attempt"))["n"] or 0
        stored = _next_attempt(row, number=latest + 1, manual=True, when=now)
        if stored:
            transaction.on_commit(functools.partial(send_deliveries.enqueue, [stored.pk]))
            return stored
    return None


# ----- sending -----


def _claim(queryset, limit, now) -> list[int]:
    return claims.claim(queryset.order_by("next_attempt_at", "id"), limit, state=State.SENDING, claimed_at=now)


def send_now(ids: list[int], *, now=None, run=None) -> list[Delivery]:
    """Send these pending attempts (those another worker did not take first); returns them, recorded."""
    now = now or timezone.now()
    won = _claim(Delivery.objects.filter(pk__in=ids, state=State.PENDING), len(ids), now)
    return _send_claimed(won, now=now, run=run)


def send_due(*, now=None, batch=200, run=None, clock=None, base: float | None = None) -> int:
    """The loop: send every due attempt, each failure queueing its retry; go on while work is due (with a zero
    backoff one call makes all the retries). `run(fn, items)` yields (item, fn(item)) (threads); `clock` reads
    the time each round (a test's clock); `base` overrides the backoff base (`monitor --retry-base`). Returns how many attempts were delivered."""
    clock = clock or (lambda: now or timezone.now())
    delivered = 0
    rounds = max(policy(Stream.ALERT).max_attempts, policy(Stream.NOTIFICATION).max_attempts) * 3 + 10
    for _ in range(rounds):  # bounded: each round sends, retries or finds nothing
        current = clock()
        for stale in Delivery.objects.stale_sending(current - STALE_SEND_CLAIM):
            _record(stale, [Attempt(False, None, 0, "", "delivery outcome unknown: the sending process stopped")],
                    current, base)
        ids = _claim(Delivery.objects.due(current), batch, current)
        if not ids:
            return delivered
        sent = _send_claimed(ids, now=current, run=run, clock=clock, base=base)
        delivered += sum(row.state == State.SUCCEEDED for row in sent)
    return delivered


def _serial(fn, items):
    for item in items:
        yield item, fn(item)


def _send_claimed(ids, *, now, run=None, clock=None, base=None) -> list[Delivery]:
    rows = list(Delivery.objects.filter(pk__in=ids).order_by("id"))
    plans = {row.pk: plan_of(row, now) for row in rows}  # database reads here, on this thread
    timeout = policy(Stream.NOTIFICATION).timeout

    def attempt(row):
        return _send_plan(plans[row.pk], timeout, now)

    done = []
    for row, results in (run or _serial)(attempt, rows):  # each written as soon as it is known
        done.append(_record(row, results, clock() if clock else now, base))
    return done


def _record(row: Delivery, results: list[Attempt] | None, now: datetime, base: float | None = None) -> Delivery:
    """Write one attempt's outcome; queue the retry of a failed automatic attempt; cancel what a manual success
    made unnecessary."""
    if results is None:  # its stream says it must not be sent any more
        Delivery.objects.filter(pk=row.pk, state=State.SENDING).update(
            state=State.CANCELLED, error="not sent: the destination is disabled", sent_at=None)
        row.state = State.CANCELLED
        return row
    failed = [r for r in results if not r.ok]
    last = failed[0] if failed else results[-1]
    rules = policy(row.stream)
    retry = bool(failed) and not row.manual and row.attempt < rules.max_attempts
    if not failed:
        row.state = State.SUCCEEDED
    elif retry or row.manual:
        row.state = State.FAILED
    else:
        row.state = State.GAVE_UP
    row.status_code, row.latency_ms = last.status_code, max(r.latency_ms for r in results)
    row.response_excerpt, row.error = last.response_excerpt[:1000], last.error[:500]
    row.request_headers, row.request_body = last.request_headers, last.request_body
    row.response_headers, row.sent_at = last.response_headers, now
    with transaction.atomic():
        changed = Delivery.objects.filter(pk=row.pk, state=State.SENDING).update(
            **{name: getattr(row, name) for name in OUTCOME_FIELDS})
        if not changed:
            return row
        if row.manual and not failed:
            Delivery.objects.filter(delivery_key=row.delivery_key, state=State.PENDING, manual=False).update(
                state=State.CANCELLED, error=f"not needed: redelivery attempt {row.attempt} succeeded")
    hooks = _STREAMS.get(row.stream)
    if hooks and hooks.after:
        hooks.after(row, not failed, now)
    if retry and plan_of_active(row, now):
        when = now + backoff(row.stream, row.attempt, base)
        if _next_attempt(row, number=row.attempt + 1, manual=False, when=when):
            send_due_deliveries.using(run_after=when).enqueue()  # stored with the attempt (database backend)
    if failed:
        log.warning("delivery %s attempt %s failed: %s", row.delivery_id, row.attempt, row.error)
    return row


def plan_of_active(row: Delivery, now: datetime) -> bool:
    """Whether a retry is still wanted (a stream's destination may have been disabled by this very failure)."""
    hooks = _STREAMS.get(row.stream)
    if hooks and hooks.resolve:
        return hooks.resolve(row, now) is not None
    return True


# ----- the tasks: any worker runs them -----


@task
def send_due_deliveries() -> int:
    """The one retry task: every due attempt (queued after a failure, run after its time)."""
    return send_due()


@task
def send_deliveries(ids: list[int]) -> int:
    """Send these stored attempts now (a redelivery, a test delivery)."""
    return sum(row.state == State.SUCCEEDED for row in send_now(ids))
