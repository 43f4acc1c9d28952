"""What a notification says: one sentence a manager would write, the details, who, and the links to act.

    notice_for(project, source, row, delivery_id=…, recipient_id=None, subscription=None) -> outbound Notice

"Auto-fix failed on session apr-w3 in Acme API, 4 min after it started"; "The deployment to production failed in
Acme API". Links are absolute (SITE_URL, lib/urls.py): the event, where the reader manages what they get, and for
a member a one-click unsubscribe (notifications.unsubscribe).
"""

from django.core import signing
from django.urls import reverse

from events.models.activity import EventStatus, EventType
from lib.urls import absolute_url
from outbound.rendering import Notice
from projects.durations import about

from . import matching
from .models import Source

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
# What an entity type is called in a sentence ("session apr-w3"); other types read with their underscores as spaces.
ENTITY_WORDS = {"apr_session": "session", "chat_message": "chat message", "indexing": "indexing run",
                "auto_fix": "auto-fix", "auto_fix_session": "session"}
ACTION_WORDS = {"success": "succeeded", "failed": "failed", "in_progress": "started"}


def entity_words(row) -> str:
    kind = ENTITY_WORDS.get(row["entity_type"], (row["entity_type"] or "").replace("_", " "))
    return f"{kind} {row['entity_id']}".strip() if row.get("entity_id") else kind


def event_sentence(project, row) -> str:
    label = EventType(row["event_type"]).label if row["event_type"] in EventType.values else row["event_type"]
    sentence = f"{label} on {entity_words(row)} in {project.name}"
    if row["status"] != EventStatus.IN_PROGRESS and row.get("duration"):
        sentence += f", {about(row['duration'])} after it started"
    elif row["status"] == EventStatus.IN_PROGRESS and not label.endswith(("started", "created")):
        sentence += " (in progress)"
    return sentence


def action_sentence(project, row) -> str:
    what = (row["action_type"] or "action").replace("_", " ")
    where = f" to {row['environment']}" if row.get("environment") else ""
    return f"The {what}{where} {ACTION_WORDS.get(row['status'], row['status'])} in {project.name}"


def unsubscribe_token(user_id, project_id) -> str:
    return signing.dumps({"u": user_id, "p": project_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token) -> tuple[int, int] | None:
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(value["u"]), int(value["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def notice_for(project, source, row, *, delivery_id, subscription=None, recipient_id=None) -> Notice:
    if source == Source.EVENT:
        sentence = event_sentence(project, row)
        details = [row["title"]] + ([row["description"]] if row.get("description") else [])
        event_url = absolute_url(reverse("events:event_detail", args=[project.slug, row["id"]]))
    else:
        sentence = action_sentence(project, row)
        details = [f"Audit action {row['action_type']}" + (f": {row['action_details']}" if row.get("action_details")
                                                            else ".")]
        event_url = absolute_url(reverse("events:audit", args=[project.slug]))
    if subscription is not None:
        manage_url = absolute_url(reverse("notifications:subscription", args=[project.slug, subscription.pk]))
        unsubscribe_url = ""
    else:
        manage_url = absolute_url(reverse("notifications:preferences"))
        unsubscribe_url = absolute_url(reverse("notifications:unsubscribe",
                                               args=[unsubscribe_token(recipient_id, project.pk)]))
    return Notice(
        event_type=matching.event_type(source, row), sentence=sentence, delivery_id=delivery_id,
        details=tuple(d for d in details if d), actor=row.get("user__username") or "",
        event_url=event_url, manage_url=manage_url, unsubscribe_url=unsubscribe_url,
        data=matching.payload(project, source, row),
    )


def ping_notice(subscription, *, delivery_id, by=None) -> Notice:
    """What a test delivery says: which subscription it tests, who asked, and where its log is."""
    project = subscription.project
    manage_url = absolute_url(reverse("notifications:subscription", args=[project.slug, subscription.pk]))
    return Notice(
        event_type="ping", delivery_id=delivery_id,
        sentence=f"Test delivery to “{subscription.name}” in {project.name}: this subscription reaches you",
        details=("Nothing happened in the project; someone pressed “Send test delivery”.",),
        actor=by.get_username() if by is not None else "", manage_url=manage_url, event_url=manage_url,
        data={"ping": True, "subscription": {"id": subscription.pk, "name": subscription.name},
              "project": matching.project_ref(project)},
    )
