"""Guarded outbound HTTP and the one delivery engine: every request the product makes to a URL someone configured
goes through here.

See outbound.guard for check_url / validate_outbound_url at save time and request() at send time, and
outbound.delivery for send() (Slack, signed webhook, email), the signature helpers and retry_delay().
"""

from .delivery import (
    CHANNELS,
    Attempt,
    Message,
    new_secret,
    retry_delay,
    send,
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
    "Attempt",
    "Message",
    "OutboundBlocked",
    "OutboundError",
    "OutboundTimeout",
    "Response",
    "check_url",
    "new_secret",
    "request",
    "retry_delay",
    "send",
    "signature_header",
    "validate_outbound_url",
    "verify_signature",
]
