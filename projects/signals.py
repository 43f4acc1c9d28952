"""Signals the projects app sends; the events app records them as audit actions, and answers the question the
retention card asks."""

from django.dispatch import Signal

project_created = Signal()  # kwargs: project, user
member_added = Signal()  # kwargs: membership, user
api_key_created = Signal()  # kwargs: key, user
api_key_revoked = Signal()  # kwargs: key, user
member_role_changed = Signal()  # kwargs: membership (with its new role), old_role, user
member_removed = Signal()  # kwargs: membership (already deleted; project and user still readable), user
# kwargs: project, cutoff (aware datetime). Asked before a shorter retention is saved; each receiver returns a dict
# with "removed": [(singular, plural, count)] (what is older than the cutoff) and/or "next_pruning_at": datetime.
retention_preview = Signal()
