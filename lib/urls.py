"""Absolute URLs for links that leave the page (alerts, e-mails, ping one-liners): the one place that builds them.

    absolute_url("/ping/…/")                 # SITE_URL + path
    absolute_url("/ping/…/", request)        # the request's own scheme and host when SITE_URL is unset

SITE_URL (e.g. "https://activity.example.com") is where people and crons reach the dashboard; behind a proxy the
request's host may not be that, so set it in production. Without it and without a request (a daemon), the path
is returned as it is.
"""

from django.conf import settings


def site_url(request=None) -> str:
    """The site's origin without a trailing slash: SITE_URL, else the request's scheme and host, else ''."""
    configured = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    if configured:
        return configured
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return ""


def absolute_url(path: str, request=None) -> str:
    """`path` (from reverse()) as an absolute URL; a path that is already absolute is returned unchanged."""
    if path.startswith(("http://", "https://")):
        return path
    return site_url(request) + ("" if path.startswith("/") else "/") + path
