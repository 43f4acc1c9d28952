"""Sign-in throttling with django-axes, for the login page and /admin/login/ alike.

Axes counts failed sign-ins per (username, client IP) pair in the database (AccessAttempt rows), so every
gunicorn worker and every node sees the same counts. Locking the pair, never the username alone, means that
failures on made-up usernames, or on a real one from an attacker's address, never lock the real user out of
their own address. `client_ip` finds the client behind TRUSTED_PROXY_COUNT reverse proxies.
"""

import ipaddress

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render


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


def lockout_response(request, credentials, *args, **kwargs):
    """Axes' answer to a locked (username, address) pair: the sign-in page with a 429 and Retry-After."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    form = auth_views.AuthenticationForm(request, data=None)
    response = render(
        request,
        "registration/login.html",
        {
            "form": form,
            "locked_out": f"Too many failed sign-in attempts. Wait {minutes} minutes, then try again.",
            "next": request.POST.get("next", request.GET.get("next", "")),
        },
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
