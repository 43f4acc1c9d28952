"""Demo conversations with feedback, copies and bookmarks, then a rollup so the quality page has numbers.

Idempotent: each conversation has a fixed external id and is created (with its messages and feedback) only
when missing; feedback goes through the same functions as the UI, which never duplicate.
"""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from events import feedback as acts
from events.models.messages import Conversation, Message
from events.quality import rollup_chunk_performance

# (external id, title, [(question, answer, chunk ids)], [(asker, act, *args)] per answer index)
# (external id, title, [(question, answer, chunk ids)], [{username: [(act, *args)]} per turn])
CONVERSATIONS: list[tuple[str, str, list[tuple[str, str, list[str]]], list[dict[str, list[tuple[Any, ...]]]]]] = [
    ("demo-auth-1", "How do I rotate an API key?", [
        ("How do I rotate an API key without downtime?",
         "Create a second key in Settings → API keys, deploy it to your services, then revoke the old key. "
         "Both keys work until you revoke one, so there is no gap.",
         ["kb-keys-01", "kb-keys-02"]),
        ("Can I script that?",
         "Yes: create the key in the UI (its secret is shown once), store it in your secret manager, and roll "
         "your deployment. Revoking is one click in Settings.",
         ["kb-keys-02"]),
    ], [
        {"owner": [("rate", "helpful"), ("bookmark",)], "viewer": [("rate", "helpful"), ("copy", "use_now")]},
        {"owner": [("need_more", ["scripts", "examples"], "We rotate keys from a GitHub Actions workflow.")],
         "viewer": [("rate", "not_helpful")]},
    ]),
    ("demo-rate-1", "Rate limits on the events API", [
        ("What happens when I send too many events?",
         "The API answers 429 with a Retry-After header once a key passes its rate limit. Wait that many "
         "seconds and retry; batches of up to 1,000 events count as one request.",
         ["kb-limits-01"]),
    ], [
        {"owner": [("rate", "helpful"), ("copy", "share")], "viewer": [("need_more", ["steps"], "")]},
    ]),
    ("demo-index-1", "Indexing keeps failing", [
        ("Our indexing job fails every night, where do I look?",
         "Open the Activity tab and filter on status Failed and type Indexing: each failed event has the "
         "error in its details. Most nightly failures are expired repository tokens.",
         ["kb-index-03", "kb-index-04"]),
        ("It says the token expired.",
         "Generate a new repository token and update it in the integration settings; the next run picks it up.",
         ["kb-index-04"]),
    ], [
        {"owner": [("rate", "not_helpful"), ("need_more", ["case_study", "steps"], "Monorepo with 40 services.")]},
        {"owner": [("rate", "helpful"), ("bookmark",), ("copy", "use_now")], "viewer": [("rate", "helpful")]},
    ]),
]


def _apply(message, user, act, *args):
    if act == "rate":
        acts.rate(message, user, args[0])
    elif act == "need_more":
        acts.ask_for_more(message, user, args[0], args[1])
    elif act == "bookmark":
        if not message.bookmarks.filter(user=user).exists():
            acts.toggle_bookmark(message, user)
    elif act == "copy":
        acts.record_copy_usage(acts.record_copy(message, user), args[0])


def add_demo_conversations(context, log):
    users, projects = context["users"], context["projects"]
    now = timezone.now()
    created = 0
    for project_index, project in enumerate(projects.values()):
        for conv_index, (external_id, title, turns, reactions) in enumerate(CONVERSATIONS):
            if Conversation.objects.filter(project=project, external_id=external_id).exists():
                continue
            started = now - timedelta(days=3 * conv_index + project_index, hours=2)
            conversation = Conversation.objects.create(
                project=project, external_id=external_id, title=title, user=users["owner"], created_at=started
            )
            for turn, (question, answer, chunks) in enumerate(turns):
                at = started + timedelta(minutes=4 * turn)
                Message.objects.create(conversation=conversation, role="user", content=question, created_at=at)
                reply = Message.objects.create(
                    conversation=conversation, role="assistant", content=answer, chunk_ids=chunks,
                    created_at=at + timedelta(seconds=20),
                )
                for username, items in reactions[turn].items():
                    for act, *args in items:
                        _apply(reply, users[username], act, *args)
            created += 1
    summary = rollup_chunk_performance()
    log(f"  conversations: {created} created; chunk rollup ({summary['mode']}): {summary['chunks_recomputed']} chunks")
