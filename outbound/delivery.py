"""TEMPORARY stand-in for the shared delivery engine (h14f's outbound/delivery.py replaces it on merge).

Same signatures as the agreed API; just enough to run notifications end to end.
"""

import hashlib
import hmac
import json
import random
import secrets as _secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core.mail import EmailMessage

from .guard import OutboundError, request

CHANNELS = ("slack", "webhook", "email")
SIGNATURE_HEADER = "X-ActivityHub-Signature"


@dataclass(frozen=True)
class Message:
    event_type: str
    subject: str
    text: str
    payload: dict
    delivery_id: str


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str


def new_secret() -> str:
    return "whsec_" + _secrets.token_urlsafe(32)


def _sign(secret, timestamp, body):
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets, timestamp, body) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={_sign(s, timestamp, body)}" for s in secrets)])


def verify_signature(secret, header, body, *, tolerance=300, now=None) -> bool:
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k == "t"]
    if not timestamps or not timestamps[0].isdigit():
        return False
    timestamp = int(timestamps[0])
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = _sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def retry_delay(attempt, *, base, cap=None, jitter=0.1, rng=None) -> timedelta:
    seconds = base.total_seconds() if isinstance(base, timedelta) else float(base)
    seconds *= 2 ** (attempt - 1)
    if cap is not None:
        seconds = min(seconds, cap.total_seconds() if isinstance(cap, timedelta) else float(cap))
    seconds *= 1 + (rng or random).uniform(-jitter, jitter)
    return timedelta(seconds=seconds)


def send(channel, target, message, *, secrets=(), timeout=10.0, now=None) -> Attempt:
    started = time.monotonic()

    def elapsed():
        return int((time.monotonic() - started) * 1000)

    if channel == "email":
        try:
            EmailMessage(subject=message.subject, body=message.text, to=[target]).send(fail_silently=False)
        except Exception as exc:  # SMTP errors come in many classes; each is a failed attempt
            return Attempt(False, None, elapsed(), "", f"email to {target} failed: {exc}")
        return Attempt(True, None, elapsed(), "", "")
    if channel == "slack":
        body = json.dumps({"text": f"*{message.subject}*\n{message.text}"}).encode()
        headers = {"Content-Type": "application/json"}
    else:
        body = json.dumps(message.payload).encode()
        timestamp = int(now if now is not None else time.time())
        headers = {"Content-Type": "application/json", "X-ActivityHub-Delivery": message.delivery_id,
                   "X-ActivityHub-Event": message.event_type}
        if secrets:
            headers[SIGNATURE_HEADER] = signature_header(secrets, timestamp, body)
    try:
        response = request("POST", target, body=body, headers=headers, timeout=timeout)
    except OutboundError as exc:
        return Attempt(False, None, elapsed(), "", str(exc))
    excerpt = response.body[:500].decode("utf-8", "replace")
    ok = 200 <= response.status < 300
    return Attempt(ok, response.status, elapsed(), excerpt, "" if ok else f"HTTP {response.status}")
