"""The Settings page's cards (members, retention, audit streaming, API keys) and the page that holds them: the one place that builds
their context (projects/views.py serves the members card, projects/keys.py the keys card)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from outbound.models import Delivery

from .forms import AddMemberForm, ApiKeyForm, AuditStreamForm, RetentionForm
from .models import AuditStream, Role
from .signals import retention_preview


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


@dataclass
class RetentionImpact:
    """What a new retention period would remove, and when (asked of the apps that keep activity, by signal)."""

    days: int
    cutoff: datetime
    now: datetime
    removed: list = field(default_factory=list)  # [(singular, plural, count)]
    next_pruning_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(n for *_, n in self.removed)

    def _when(self) -> str:
        when = self.next_pruning_at
        if when is None or when <= self.now:
            return "at the next daily pruning, within a day"
        hours = (when - self.now) / timedelta(hours=1)
        soon = f"in about {round(hours)} hour{'s' if round(hours) != 1 else ''}" if hours >= 1 else "within the hour"
        return f"at the next daily pruning, {when:%a %d %b %H:%M} UTC ({soon})"

    @property
    def sentence(self) -> str:
        parts = [f"{n:,} {one if n == 1 else many}" for one, many, n in self.removed if n]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return (f"Keeping {self.days:,} day{'s' if self.days != 1 else ''} removes {listed} created before "
                f"{self.cutoff:%d %b %Y %H:%M} UTC, {self._when()}, together with whatever turns "
                f"{self.days:,} day{'s' if self.days != 1 else ''} old by then. They cannot be brought back.")


def retention_impact(project, days, now=None) -> RetentionImpact:
    now = now or timezone.now()
    impact = RetentionImpact(days=days, cutoff=now - timedelta(days=days), now=now)
    for _receiver, answer in retention_preview.send(sender=type(project), project=project, cutoff=impact.cutoff):
        if not isinstance(answer, dict):
            continue
        impact.removed.extend(answer.get("removed", []))
        impact.next_pruning_at = answer.get("next_pruning_at", impact.next_pruning_at)
    return impact


def retention_card(project, membership, retention_form=None, **extra):
    return {"project": project, "membership": membership,
            "retention_form": retention_form or RetentionForm(instance=project), **extra}


STREAM_LOG_ROWS = 10


def audit_stream_card(project, stream_form=None, *, stream_secret=None, confirm_remove=False):
    """The audit streaming card: the stream (or the form to start one), its last attempts and, once, its secret."""
    stream = AuditStream.objects.filter(project=project).first()
    deliveries = []
    if stream is not None:
        deliveries = list(Delivery.objects.for_destination(stream.destination).attempts_made().with_retry_queued()
                          .latest_first()[:STREAM_LOG_ROWS])
    return {"audit_stream": stream, "stream_deliveries": deliveries, "stream_secret": stream_secret,
            "confirm_remove": confirm_remove,
            "stream_form": stream_form or AuditStreamForm(instance=stream)}


def settings_context(project, membership, *, add_form=None, key_form=None, retention_form=None, stream_form=None,
                     stream_secret=None, confirm_remove=False, **extra):
    """The whole Settings page: its cards; `extra` (a notice, the new key) goes to the card that was posted to."""
    return {
        **members_card(project, membership, add_form=add_form, active_tab="settings"),
        **retention_card(project, membership, retention_form),
        **audit_stream_card(project, stream_form, stream_secret=stream_secret, confirm_remove=confirm_remove),
        **keys_card(project, key_form=key_form, **extra),
    }
