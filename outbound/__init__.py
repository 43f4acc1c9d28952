"""Guarded outbound HTTP and the one delivery engine: every request the product makes to a URL someone configured
goes through here.

See outbound.guard for check_url / validate_outbound_url at save time and request() at send time,
outbound.channels for the channel registry (TRANSPORTS), outbound.delivery for send() (Slack, signed webhook,
email), the signature helpers and retry_delay() (the one backoff), outbound.models for the one delivery log and
outbound.engine for its queue and retry loop (import those two directly: they need the app registry).
"""

from .channels import CHANNELS, TRANSPORTS, channel_choices, send
from .delivery import (
    Attempt,
    Message,
    new_secret,
    retry_delay,
    signature_header,
    verify_signature,
)
from .guard import (
    OutboundBlocked,
    OutboundError,
    OutboundTimeout,
    Response,
    check_url,
    request,
    validate_outbound_url,
)

__all__ = [
    "CHANNELS",
    "TRANSPORTS",
    "Attempt",
    "Message",
    "OutboundBlocked",
    "OutboundError",
    "OutboundTimeout",
    "Response",
    "channel_choices",
    "check_url",
    "new_secret",
    "request",
    "retry_delay",
    "send",
    "signature_header",
    "validate_outbound_url",
    "verify_signature",
]
