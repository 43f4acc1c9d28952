"""The Settings page's two cards, members and API keys, and the page that holds both: the one place that builds
their context (projects/views.py serves the members card, projects/keys.py the keys card)."""

from django.db.models import F

from .forms import AddMemberForm, ApiKeyForm, RetentionForm
from .models import Role


def members_card(project, membership, add_form=None, **extra):
    return {
        "project": project,
        "membership": membership,
        "members": project.memberships.select_related("user").order_by("user__username"),
        "roles": Role.choices,
        "add_form": add_form or AddMemberForm(project=project),
        **extra,
    }


def keys_card(project, key_form=None, **extra):
    keys = project.api_keys.select_related("created_by").order_by(F("revoked_at").desc(nulls_first=True), "-created_at")
    return {"api_keys": keys, "key_form": key_form or ApiKeyForm(project=project), **extra}


def retention_card(project, membership, retention_form=None, **extra):
    return {"project": project, "membership": membership,
            "retention_form": retention_form or RetentionForm(instance=project), **extra}


def settings_context(project, membership, *, add_form=None, key_form=None, retention_form=None, **extra):
    """The whole Settings page: its cards; `extra` (a notice, the new key) goes to the card that was posted to."""
    return {
        **members_card(project, membership, add_form=add_form, active_tab="settings"),
        **retention_card(project, membership, retention_form),
        **keys_card(project, key_form=key_form, **extra),
    }
