"""API keys in a project's Settings: owners create them (the full key is shown once), list and revoke them.

The card is the `api_keys` partial of projects/settings.html. A plain form post answers with the whole Settings
page (not a redirect: the new key exists only in this one response); an htmx post swaps just the card.
"""

from django import forms
from django.contrib import messages
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from events.tracking import track_activity

from .access import get_project_for_member
from .models import ApiKey, ApiKeyScope


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "scope"]
        labels = {"name": "Key name", "scope": "Access"}
        help_texts = {"name": "Say where it will be used, e.g. “CI pipeline” or “indexing worker”."}
        widgets = {"scope": forms.RadioSelect}

    def __init__(self, *args, project, **kwargs):
        self.project = project
        super().__init__(*args, **kwargs)
        self.fields["scope"].initial = ApiKeyScope.READ

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        if self.project.api_keys.active().filter(name__iexact=name).exists():
            raise forms.ValidationError(f"An active key is already named “{name}”; choose another name.")
        return name


def keys_context(project, key_form=None, **extra):
    """What the API-keys card needs; merged into the Settings page's context."""
    keys = project.api_keys.select_related("created_by").order_by(F("revoked_at").desc(nulls_first=True), "-created_at")
    return {"api_keys": keys, "key_form": key_form or ApiKeyForm(project=project), **extra}


def _card(request, project, membership, status=200, **extra):
    if request.htmx:
        context = {"project": project, "membership": membership, **keys_context(project, **extra)}
        return render(request, "projects/settings.html#api_keys", context, status=status)
    from .views import _members_context  # the Settings page's members card, so the whole page renders

    context = {**_members_context(project, membership, active_tab="settings"), **keys_context(project, **extra)}
    return render(request, "projects/settings.html", context, status=status)


@require_POST
def api_key_create(request, slug):
    project, membership = get_project_for_member(request, slug, owner=True)
    form = ApiKeyForm(request.POST, project=project)
    if not form.is_valid():
        return _card(request, project, membership, status=422, key_form=form)
    key, token = ApiKey.objects.create_key(
        project=project, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], created_by=request.user
    )
    track_activity(
        project=project,
        action_type="api_key_created",
        action_details=f"API key “{key.name}” (ah_{key.prefix}_…, {key.get_scope_display().lower()}) created",
        user=request.user,
    )
    response = _card(request, project, membership, status=201 if not request.htmx else 200, new_key=key, new_token=token)
    # The full key is in this response only: no cache, proxy or back button may keep it.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_key_revoke(request, slug, key_id):
    project, membership = get_project_for_member(request, slug, owner=True)
    key = get_object_or_404(ApiKey, pk=key_id, project=project)
    if key.revoked_at is None:
        # Conditional update: two owners revoking at once record one revocation, not two.
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            track_activity(
                project=project,
                action_type="api_key_revoked",
                action_details=f"API key “{key.name}” (ah_{key.prefix}_…) revoked",
                user=request.user,
            )
    notice = f"Key “{key.name}” revoked: requests with it now get 401."
    if request.htmx:
        return _card(request, project, membership, key_notice=notice)
    messages.success(request, notice)
    return redirect("projects:settings", slug=project.slug)
