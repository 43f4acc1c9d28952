"""Who sent a request: the client's address behind TRUSTED_PROXY_COUNT reverse proxies (sign-in throttling, pings)."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The address of the client: with N trusted proxies, the N-th address from the right of X-Forwarded-For.

    Each proxy appends the address it received the request from, so only the last N entries were written by
    proxies we trust; anything to their left was sent by the client and may be forged.
    """
    remote = request.META.get("REMOTE_ADDR") or None  # None for requests made in code (force_login)
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:  # the request did not pass through every proxy: trust only the socket
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # not an address (a misconfigured proxy passed junk through): fall back to the socket
        return remote
