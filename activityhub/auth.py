"""Sign-in throttling with django-axes, for the login page and /admin/login/ alike.

Axes counts failed sign-ins per (username, client IP) pair in the database (AccessAttempt rows), so every
gunicorn worker and every node sees the same counts. Locking the pair, never the username alone, means that
failures on made-up usernames, or on a real one from an attacker's address, never lock the real user out of
their own address. `client_ip` (lib/client.py) finds the client behind TRUSTED_PROXY_COUNT reverse proxies.
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from lib.client import client_ip

__all__ = ["client_ip", "lockout_response"]  # client_ip (lib/client.py) is AXES_CLIENT_IP_CALLABLE


def lockout_response(request, credentials, *args, **kwargs):
    """Axes' answer to a locked (username, address) pair: the sign-in page with a 429 and Retry-After."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    form = AuthenticationForm(request, data=None)
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
