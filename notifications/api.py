"""Subscriptions and their delivery log in the HTTP API (a read-write key writes; reads need any key).

    GET    /api/v1/notifications/subscriptions                 list
    POST   /api/v1/notifications/subscriptions                 create (Idempotency-Key honoured; a webhook's
                                                               secret is in this answer only)
    GET    /api/v1/notifications/subscriptions/{id}            read
    PATCH  /api/v1/notifications/subscriptions/{id}            update any field (enabled: true clears the
                                                               failure count)
    DELETE /api/v1/notifications/subscriptions/{id}            delete with its log
    POST   /api/v1/notifications/subscriptions/{id}/rotate-secret
    GET    /api/v1/notifications/subscriptions/{id}/deliveries newest first
    POST   /api/v1/notifications/deliveries/{id}/redeliver     the same payload again, same delivery_id
    GET    /api/v1/notifications/deliveries/{id}               one attempt: request and response
    POST   /api/v1/notifications/subscriptions/{id}/ping       send a test delivery
"""

from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from ninja import Path, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

import outbound
from events.models.activity import EventCategory, EventStatus, EventType
from events.validation import ActionStatusIn, EventStatusIn, Text
from lib.vocabulary import ALIAS_NOTE, aliases_schema
from projects.api_auth import require_write
from projects.api_schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut, IdempotencyKey
from projects.idempotency import idempotent_write

from . import actions
from .forms import member_users
from .models import Channel, Delivery, DeliveryState, Subscription

router = Router(tags=["notifications"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Short = Annotated[Text, Field(max_length=64)]
Blankable = Literal[""]
# The status words a subscription matches, in the API's one vocabulary with its aliases (lib/vocabulary.py); the
# answer keeps the stored words (events' COMPLETED, the audit trail's success).
EVENT_STATUS_NOTE = f'Only events that reach this status ("" for any): IN_PROGRESS, COMPLETED or FAILED. {ALIAS_NOTE}'
ACTION_STATUS_NOTE = ('Only audit actions with this status ("" for any): the API\'s words COMPLETED, FAILED and '
                      "IN_PROGRESS, their aliases (SUCCESS, RUNNING, …) or the audit trail's own success, failed and "
                      "in_progress, in any letter case; stored and answered as success, failed or in_progress.")
EVENT_ALIASES = aliases_schema(EventStatus.values)
ACTION_ALIASES = aliases_schema(("COMPLETED", "FAILED", "IN_PROGRESS"))


class SubscriptionIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    channel: Literal["slack", "webhook", "email"]
    target_url: Annotated[Text, Field(max_length=500)] = Field("", description="Slack or webhook URL (http/https)")
    recipients: list[Annotated[Text, Field(max_length=150)]] = Field(
        default_factory=list, max_length=200, description="Usernames of members (email channel)")
    mode: Literal["immediate", "hourly", "daily"] = "immediate"
    enabled: bool = True
    match_events: bool = True
    event_types: list[EventType] = Field(default_factory=list, max_length=len(EventType.values))
    category: EventCategory | Blankable = ""
    event_status: EventStatusIn | Blankable = Field("", description=EVENT_STATUS_NOTE, json_schema_extra=EVENT_ALIASES)
    entity_type: Short = ""
    text_contains: Annotated[Text, Field(max_length=200)] = ""
    match_actions: bool = False
    action_type: Short = ""
    action_status: ActionStatusIn | Blankable = Field("", description=ACTION_STATUS_NOTE, json_schema_extra=ACTION_ALIASES)
    environment: Annotated[Text, Field(max_length=32)] = ""


class SubscriptionPatch(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    channel: Literal["slack", "webhook", "email"] | None = None
    target_url: Annotated[Text, Field(max_length=500)] | None = None
    recipients: list[Annotated[Text, Field(max_length=150)]] | None = Field(None, max_length=200)
    mode: Literal["immediate", "hourly", "daily"] | None = None
    enabled: bool | None = None
    match_events: bool | None = None
    event_types: list[EventType] | None = Field(None, max_length=len(EventType.values))
    category: EventCategory | Blankable | None = None
    event_status: EventStatusIn | Blankable | None = Field(None, description=EVENT_STATUS_NOTE, json_schema_extra=EVENT_ALIASES)
    entity_type: Short | None = None
    text_contains: Annotated[Text, Field(max_length=200)] | None = None
    match_actions: bool | None = None
    action_type: Short | None = None
    action_status: ActionStatusIn | Blankable | None = Field(None, description=ACTION_STATUS_NOTE, json_schema_extra=ACTION_ALIASES)
    environment: Annotated[Text, Field(max_length=32)] | None = None


class SubscriptionOut(Schema):
    id: int
    name: str
    channel: str
    target_url: str
    recipients: list[str]
    mode: str
    enabled: bool
    disabled_reason: str
    consecutive_failures: int
    match_events: bool
    event_types: list[str]
    category: str
    event_status: str
    entity_type: str
    text_contains: str
    match_actions: bool
    action_type: str
    action_status: str
    environment: str
    created_at: datetime
    secret: str | None = Field(None, description="The webhook signing secret: only in the answer that created or rotated it")
    previous_secret_expires_at: datetime | None = None


class DeliveryOut(Schema):
    id: int
    delivery_id: str = Field(description="The same for every attempt of one event: receivers dedupe on it")
    source: str = Field(description="event, action, digest or ping (a test delivery)")
    source_id: str
    attempt: int
    manual: bool
    state: str
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str
    error: str
    next_attempt_at: datetime | None
    created_at: datetime


FIELDS = [name for name in SubscriptionIn.model_fields if name != "recipients"]


def _out(subscription, *, secret=None):
    return {
        **{name: getattr(subscription, name) for name in FIELDS},
        "id": subscription.pk, "recipients": [u.get_username() for u in subscription.recipients.all()],
        "disabled_reason": subscription.disabled_reason, "consecutive_failures": subscription.consecutive_failures,
        "created_at": subscription.created_at, "secret": secret,
        "previous_secret_expires_at": subscription.previous_secret_expires_at,
    }


def _delivery_out(d):
    """One attempt; next_attempt_at is when the next attempt of this delivery is due: this row's own time while it
    is queued, the queued retry's after it failed, null when none is queued."""
    next_at = d.next_attempt_at if d.state in (DeliveryState.PENDING, DeliveryState.SENDING) else getattr(d, "retry_at", None)
    return {name: getattr(d, name) for name in DeliveryOut.model_fields} | {"id": d.pk, "next_attempt_at": next_at}


def _of(request, pk) -> Subscription:
    subscription = Subscription.objects.filter(project=request.auth.project, pk=pk).first()
    if subscription is None:
        raise HttpError(404, f"No subscription {pk} in this project.")
    return subscription


def _recipients(project, usernames):
    users = list(member_users(project).filter(username__in=usernames))
    missing = sorted(set(usernames) - {u.username for u in users})
    if missing:
        raise HttpError(422, f"recipients: not members of this project: {', '.join(missing)[:300]}")
    return users


def _valid(subscription):
    """full_clean (the URL guard, the channel's needs); a problem is a 422 naming the field."""
    try:
        subscription.full_clean(exclude=["project", "created_by"])
    except ValidationError as exc:
        problems = [f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
        raise HttpError(422, "; ".join(problems)) from None
    return subscription


@router.get("/notifications/subscriptions", response={200: list[SubscriptionOut], **READ_ERRORS},
            summary="List the project's notification subscriptions")
def subscription_list(request):
    rows = Subscription.objects.for_project(request.auth.project).prefetch_related("recipients")
    return Status(200, [_out(s) for s in rows])


@router.post("/notifications/subscriptions", response={201: SubscriptionOut, **WRITE_ERRORS},
             summary="Create a subscription (a webhook's signing secret is returned once)")
@idempotent_write
def subscription_create(request, payload: SubscriptionIn, idempotency_key: IdempotencyKey = None):
    project = request.auth.project
    subscription = Subscription(project=project, **payload.model_dump(exclude={"recipients"}))
    if subscription.channel == Channel.WEBHOOK:
        subscription.secret = outbound.new_secret()  # before full_clean: a webhook needs one
    actions.create_subscription(_valid(subscription), recipients=_recipients(project, payload.recipients))
    return 201, _out(subscription, secret=subscription.secret or None)


@router.get("/notifications/subscriptions/{subscription_id}", response={200: SubscriptionOut, 404: ErrorOut,
                                                                       **READ_ERRORS}, summary="Read a subscription")
def subscription_detail(request, subscription_id: Id):
    return Status(200, _out(_of(request, subscription_id)))


@router.patch("/notifications/subscriptions/{subscription_id}",
              response={200: SubscriptionOut, 404: ErrorOut, **WRITE_ERRORS}, summary="Update a subscription")
@idempotent_write
def subscription_update(request, subscription_id: Id, payload: SubscriptionPatch, idempotency_key: IdempotencyKey = None):
    subscription = _of(request, subscription_id)
    before = actions.snapshot(subscription)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    usernames = changes.pop("recipients", None)
    for field, value in changes.items():
        setattr(subscription, field, value)
    secret = None
    if subscription.channel == Channel.WEBHOOK and not subscription.secret:
        subscription.secret = secret = outbound.new_secret()  # before full_clean: a webhook needs one
    recipients = _recipients(subscription.project, usernames) if usernames is not None else None
    actions.save_subscription(_valid(subscription), before, recipients=recipients)
    return 200, _out(subscription, secret=secret)


@router.delete("/notifications/subscriptions/{subscription_id}", response={204: None, 404: ErrorOut, **WRITE_ERRORS},
               summary="Delete a subscription and its delivery log")
def subscription_delete(request, subscription_id: Id):
    require_write(request)
    actions.delete_subscription(_of(request, subscription_id))
    return Status(204, None)


@router.post("/notifications/subscriptions/{subscription_id}/rotate-secret",
             response={200: SubscriptionOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
             summary="Rotate a webhook's signing secret (the previous one signs too until its overlap ends)")
def subscription_rotate(request, subscription_id: Id):
    require_write(request)
    subscription = _of(request, subscription_id)
    if subscription.channel != Channel.WEBHOOK:
        raise HttpError(409, "Only webhook subscriptions are signed.")
    return Status(200, _out(subscription, secret=actions.rotate_subscription_secret(subscription)))


class DeliveryQuery(Schema):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    before: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(None, description="Only attempts older than this id")


@router.get("/notifications/subscriptions/{subscription_id}/deliveries",
            response={200: list[DeliveryOut], 404: ErrorOut, **READ_ERRORS},
            summary="A subscription's delivery log, newest first (one row per attempt)")
def delivery_list(request, subscription_id: Id, query: Query[DeliveryQuery]):
    rows = Delivery.objects.for_subscription(_of(request, subscription_id)).with_retry_queued().order_by("-id")
    if query.before:
        rows = rows.filter(pk__lt=query.before)
    return Status(200, [_delivery_out(d) for d in rows[: query.limit]])


@router.post("/notifications/deliveries/{delivery_id}/redeliver",
             response={202: DeliveryOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
             summary="Send a delivery's payload again (a new attempt with the same delivery_id)")
def delivery_redeliver(request, delivery_id: Id):
    require_write(request)
    delivery = Delivery.objects.filter(pk=delivery_id, project_id=request.auth.project.pk,
                                       destination__startswith="subscription:").first()
    if delivery is None:
        raise HttpError(404, f"No delivery {delivery_id} in this project.")
    again = actions.redeliver(delivery)
    if again is None:
        raise HttpError(409, "Another redelivery of this delivery is being stored; retry.")
    return Status(202, _delivery_out(again))



class DeliveryDetailOut(DeliveryOut):
    request_headers: dict[str, str] = Field(description="The request as sent (the signature header included)")
    request_body: str
    response_headers: dict[str, str]
    response_body: str = Field(description="The first 1,000 characters of the response's body")
    sent_at: datetime | None


def _delivery_detail_out(d):
    return _delivery_out(d) | {"request_headers": d.request_headers, "request_body": d.request_body,
                               "response_headers": d.response_headers, "response_body": d.response_excerpt,
                               "sent_at": d.sent_at}


@router.get("/notifications/deliveries/{delivery_id}",
            response={200: DeliveryDetailOut, 404: ErrorOut, **READ_ERRORS},
            summary="One attempt with its request (headers, body) and response (status, headers, first KB)")
def delivery_detail(request, delivery_id: Id):
    delivery = Delivery.objects.with_retry_queued().filter(
        pk=delivery_id, project_id=request.auth.project.pk, destination__startswith="subscription:").first()
    if delivery is None:
        raise HttpError(404, f"No delivery {delivery_id} in this project.")
    return Status(200, _delivery_detail_out(delivery))


@router.post("/notifications/subscriptions/{subscription_id}/ping",
             response={202: DeliveryOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
             summary="Send a test delivery (a ping) to the subscription; it appears in its delivery log")
def subscription_ping(request, subscription_id: Id):
    require_write(request)
    subscription = _of(request, subscription_id)
    sent = actions.send_test_delivery(subscription)
    if sent is None:
        raise HttpError(409, "Another test delivery is being stored; retry.")
    return Status(202, _delivery_out(sent))
