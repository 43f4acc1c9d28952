"""Changes the events app makes to a project's state, each recorded in the audit trail (projects/audit.py).

Activity events, conversations and message events are the project's data, written by events/ingest.py; the audit
trail itself is written by events/audit.py."""

from django.db import transaction

from projects.audit import record

from .ingest import ingest_actions
from .models.feeds import FeedToken


def reset_feed_token(project, user) -> FeedToken:
    """A member's feed token is replaced: every feed URL they handed out stops working."""
    with transaction.atomic():
        token = FeedToken.objects.reset(user)
        record(project, "feed_token_reset", target=("feed_token", user.get_username()),
               details=f"{user.get_username()} reset their feed link: the old Atom and JSON feed URLs no longer work")
    return token


def report_actions(project, items):
    """Actions an integration reports (POST /api/v1/actions): stored as reported by the key, never as witnessed."""
    return ingest_actions(project, items)
