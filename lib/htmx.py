"""Answers for htmx requests that every app gives the same way.

    return already_gone(request, "Ana was already removed.", reverse("projects:settings", args=[slug]))

A stale tab (another tab or person removed the thing a minute ago) asks to remove or change something that is
gone. Instead of a 404, which htmx would log as an error and leave on screen, the row it was asked from leaves
the screen and the page says why (the `ah:notice` event, shown by static/js/app.js); without htmx the page
reloads with the same sentence.
"""

import json

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """The request as django-htmx's middleware leaves it: `request.htmx` says whether (and how) htmx sent it."""

    htmx: HtmxDetails


class SignedInHtmxRequest(HtmxHttpRequest):
    """The same on a page behind LoginRequiredMiddleware (every page but sign-in and the public ones)."""

    user: User


def already_gone(request: HtmxHttpRequest, message: str, redirect_to: str, row: str = "tr"):
    """Remove the requesting element's closest `row` from the screen (htmx), or go back to `redirect_to`."""
    if request.htmx:
        response = HttpResponse(status=200)
        response["HX-Retarget"] = f"closest {row}"
        response["HX-Reswap"] = "delete"
        response["HX-Trigger"] = json.dumps({"ah:notice": message})
        return response
    messages.info(request, message)
    return redirect(redirect_to)
