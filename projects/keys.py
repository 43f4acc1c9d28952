"""API keys in a project's Settings: owners create them (the full key is shown once), list and revoke them.

The card is the `api_keys` partial of projects/settings.html (its context: projects/settings_page.py). A plain form post answers with the whole Settings
page (not a redirect: the new key exists only in this one response); an htmx post swaps just the card.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest

from . import actions
from .access import get_project_for_member
from .forms import ApiKeyForm
from .models import ApiKey
from .settings_page import keys_card, settings_context


def _card(request: HtmxHttpRequest, project, membership, status=200, **extra):
    if request.htmx:
        context = {"project": project, "membership": membership, **keys_card(project, **extra)}
        return render(request, "projects/settings.html#api_keys", context, status=status)
    return render(request, "projects/settings.html", settings_context(project, membership, **extra), status=status)


@require_POST
def api_key_create(request: HtmxHttpRequest, slug):
    project, membership = get_project_for_member(request, slug, owner=True)
    form = ApiKeyForm(request.POST, project=project)
    if not form.is_valid():
        return _card(request, project, membership, status=422, key_form=form)
    key, token = actions.create_api_key(
        project, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], created_by=request.user
    )
    response = _card(request, project, membership, status=201 if not request.htmx else 200, new_key=key, new_token=token)
    # The full key is in this response only: no cache, proxy or back button may keep it.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_key_revoke(request: HtmxHttpRequest, slug, key_id):
    project, membership = get_project_for_member(request, slug, owner=True)
    key = get_object_or_404(ApiKey, pk=key_id, project=project)
    if key.revoked_at is None:
        actions.revoke_api_key(key)
    notice = f"Key “{key.name}” revoked: requests with it now get 401."
    if request.htmx:
        return _card(request, project, membership, key_notice=notice)
    messages.success(request, notice)
    return redirect("projects:settings", slug=project.slug)
