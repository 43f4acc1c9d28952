"""Guarded outbound HTTP: every request the product makes to a URL someone configured goes through here.

See outbound.guard for the API: check_url / validate_outbound_url at save time, request() at send time.
"""

from .guard import OutboundBlocked, OutboundError, Response, check_url, request, validate_outbound_url

__all__ = ["OutboundBlocked", "OutboundError", "Response", "check_url", "request", "validate_outbound_url"]
