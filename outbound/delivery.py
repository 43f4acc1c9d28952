"""Sending one message: to a Slack-compatible webhook, a generic signed webhook, or an email.

Monitoring's alerts and project notifications both send through `send`, which looks the channel up in the one
channel registry (outbound.channels.TRANSPORTS); the delivery log, the queue and the retries are outbound.engine's.
Nothing here touches the database, so `send` is safe in threads.

    send(channel, target, message, *, secrets=(), timeout=10.0, now=None) -> Attempt
    signature_header(secrets, timestamp, body) -> "t=<ts>,v1=<hex>[,v1=<hex>…]"
    verify_signature(secret, header, body, *, tolerance=300, now=None) -> bool
    retry_delay(attempt, *, base, cap=None, jitter=0.1, rng=None) -> timedelta
    new_secret() -> "whsec_…"

The generic webhook body is one stable envelope, `{"id", "type", "created", "subject", "text", "data"}`, signed
Stripe-style over f"{t}.".encode() + body with every secret given (the new and the old one while a rotation
overlaps). HTTP goes through outbound.request (the SSRF guard, a timeout, a read cap, same-origin redirects only).
"""

import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from secrets import token_urlsafe
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email

from .guard import OutboundBlocked, OutboundError, request

USER_AGENT = "ActivityHub-Webhooks/1"
SIGNATURE_HEADER = "X-ActivityHub-Signature"
EXCERPT_CHARS = 1000  # of the response body, kept in the delivery log (GitHub shows about as much)
READ_CAP_BYTES = 4 * EXCERPT_CHARS  # enough bytes for 1,000 characters of UTF-8
BODY_KEPT_CHARS = 64_000  # of the request body, kept in the delivery log
MAX_REDIRECTS = 3  # followed only within the same scheme, host and port
_MAX_DELAY_SECONDS = timedelta(days=365).total_seconds()
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True)
class Message:
    event_type: str  # e.g. "activity.failed", "workflow_failed"
    subject: str  # one line, plain language
    text: str  # plain-language body (email body; Slack text)
    payload: dict  # JSON-serialisable data (the webhook's "data")
    delivery_id: str  # stable id receivers deduplicate on: the same across retries and redeliveries of one event
    # Richer forms from the message renderer (outbound.rendering); a plain Message leaves them empty.
    html: str = ""  # the email's HTML alternative
    blocks: tuple = ()  # Slack Block Kit blocks
    links: dict = field(default_factory=dict)  # {"event": url, "manage": url, "unsubscribe": url}: absolute URLs
    email_headers: dict = field(default_factory=dict)  # e.g. List-Unsubscribe, List-Unsubscribe-Post


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None  # HTTP status; None for email and when no response came
    latency_ms: int
    response_excerpt: str  # the first 1,000 characters of the response body, decoded safely
    error: str  # "" when ok; otherwise a reason safe to show to the target's owner
    # What was sent and what came back, for the delivery log (GitHub's "Request" and "Response" tabs); not part of
    # an attempt's identity (two attempts with the same outcome are equal).
    request_headers: dict = field(default_factory=dict, compare=False)
    request_body: str = field(default="", compare=False)
    response_headers: dict = field(default_factory=dict, compare=False)


def new_secret() -> str:
    """A fresh signing secret; callers show it once and store it."""
    return "whsec_" + token_urlsafe(32)


def _sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex>` with one v1 per secret (a receiver accepts the request if any v1 matches)."""
    if isinstance(secrets, str) or not secrets:
        raise ValueError("signature_header needs a sequence of one or more secrets")
    return ",".join([f"t={int(timestamp)}", *(f"v1={_sign(secret, int(timestamp), body)}" for secret in secrets)])


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: int | None = None) -> bool:
    """The receiver's check: a v1 matches HMAC-SHA256(secret, f"{t}.".encode() + body) and t is within
    `tolerance` seconds of now (an old or replayed request is refused). Malformed headers are False, never raise."""
    timestamp, candidates = None, []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) < 20:
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = int(time.time()) if now is None else int(now)
    if abs(current - timestamp) > tolerance:
        return False
    expected = _sign(secret, timestamp, body)
    # compare with every candidate (no early exit) so the time taken says nothing about which one matched
    matches = [hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace")) for c in candidates]
    return any(matches)


def retry_delay(
    attempt: int, *, base: float, cap: float | None = None, jitter: float = 0.1, rng: random.Random | None = None
) -> timedelta:
    """How long to wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.

    base × 2^(attempt − 1), at most `cap` seconds, then spread by a random factor in [1 − jitter, 1 + jitter]
    (so receivers that failed together are not all retried in the same second). `rng` makes it reproducible.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based: the number of the attempt that failed")
    if base < 0 or not 0 <= jitter <= 1 or (cap is not None and cap < 0):
        raise ValueError("base and cap must be non-negative and jitter between 0 and 1")
    seconds = min(base * 2.0 ** min(attempt - 1, 64), _MAX_DELAY_SECONDS)
    if cap is not None:
        seconds = min(seconds, cap)
    if jitter:
        seconds *= 1 + (rng or random).uniform(-jitter, jitter)
    return timedelta(seconds=seconds)


def _header_value(value: str) -> str:
    """A header value HTTP can carry: printable ASCII kept, anything else (spaces, line breaks, non-ASCII)
    percent-encoded as UTF-8. The body carries the exact value."""
    return quote(value, safe=_PRINTABLE_ASCII)


def _excerpt(body: bytes, chars: int = EXCERPT_CHARS) -> str:
    return body.decode("utf-8", errors="replace")[:chars]


def webhook_envelope(message: Message, created: int) -> dict:
    """The generic webhook's JSON: the sentence (subject, text) beside the machine codes (type, data)."""
    envelope = {
        "id": message.delivery_id,
        "type": message.event_type,
        "created": created,
        "subject": message.subject,
        "text": message.text,
        "data": message.payload,
    }
    if message.links:
        envelope["links"] = dict(message.links)
    return envelope


def _webhook_body(message: Message, created: int) -> bytes:
    return json.dumps(webhook_envelope(message, created), cls=DjangoJSONEncoder, ensure_ascii=False).encode()


def slack_payload(message: Message) -> dict:
    """What a Slack-compatible webhook is sent: `text` (the notification's fallback) and, when rendered, blocks."""
    if message.blocks:  # the text is then the notification's one-line fallback
        return {"text": message.subject, "blocks": list(message.blocks)}
    return {"text": f"*{message.subject}*\n{message.text}"}


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    return replace(_post_once(url, body, headers, timeout), request_headers=dict(headers),
                   request_body=_excerpt(body, BODY_KEPT_CHARS))


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = request(
            "POST", url, body=body, headers=headers, timeout=timeout, max_bytes=READ_CAP_BYTES,
            max_redirects=MAX_REDIRECTS,
        )
    except OutboundBlocked as exc:
        return Attempt(False, None, took(), "", f"refused: {exc}")
    except OutboundError as exc:
        return Attempt(False, None, took(), "", f"could not deliver: {exc}")
    except ValueError as exc:  # http.client refuses a header value with a line break or outside Latin-1
        return Attempt(False, None, took(), "", f"could not deliver: {exc}")
    excerpt = _excerpt(response.body)
    received = dict(response.headers)
    if 200 <= response.status < 300:
        return Attempt(True, response.status, took(), excerpt, "", response_headers=received)
    if response.unfollowed_redirect:  # what happened to the redirect, in words (outbound.guard)
        error = f"HTTP {response.status}: {response.unfollowed_redirect}"
    else:
        error = f"HTTP {response.status}"
    return Attempt(False, response.status, took(), excerpt, error, response_headers=received)


def send_email(target: str, message: Message, *, secrets: Sequence[str] = (), timeout: float = 10.0,
               now: datetime | None = None) -> Attempt:
    """The email channel: text, plus the HTML alternative and the List-Unsubscribe headers when rendered."""
    started = time.monotonic()
    headers = {"X-ActivityHub-Event": message.event_type, "X-ActivityHub-Delivery": message.delivery_id,
               **message.email_headers}
    try:
        validate_email(target)
        email = EmailMultiAlternatives(subject=message.subject, body=message.text, to=[target], headers=headers)
        if message.html:
            email.attach_alternative(message.html, "text/html")
        email.send(fail_silently=False)
    except ValidationError:
        return Attempt(False, None, int((time.monotonic() - started) * 1000), "", f"{target!r} is not an email address")
    except Exception as exc:  # SMTP errors come in many classes; each is a failed attempt, never a crash
        return Attempt(False, None, int((time.monotonic() - started) * 1000), "", f"email failed: {exc}")
    return Attempt(True, None, int((time.monotonic() - started) * 1000), "", "")


def send_slack(target: str, message: Message, *, secrets: Sequence[str] = (), timeout: float = 10.0,
               now: datetime | None = None) -> Attempt:
    """The Slack-compatible webhook channel: text and blocks."""
    body = json.dumps(slack_payload(message), ensure_ascii=False).encode()
    return _post(target, body, {"Content-Type": "application/json", "User-Agent": USER_AGENT}, timeout)


def send_webhook(target: str, message: Message, *, secrets: Sequence[str] = (), timeout: float = 10.0,
                 now: datetime | None = None) -> Attempt:
    """The generic webhook channel: the JSON envelope, signed with every secret given."""
    created = int(now.timestamp() if now is not None else time.time())
    try:
        body = _webhook_body(message, created)
    except (TypeError, ValueError) as exc:
        return Attempt(False, None, 0, "", f"the payload is not JSON-serialisable: {exc}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ActivityHub-Event": _header_value(message.event_type),
        "X-ActivityHub-Delivery": _header_value(message.delivery_id),
    }
    if secrets:
        headers[SIGNATURE_HEADER] = signature_header(secrets, created, body)
    return _post(target, body, headers, timeout)
