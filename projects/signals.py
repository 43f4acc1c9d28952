"""Signals the projects app sends; the events app records them as audit actions."""

from django.dispatch import Signal

project_created = Signal()  # kwargs: project, user
member_added = Signal()  # kwargs: membership, user
member_role_changed = Signal()  # kwargs: membership (with its new role), old_role, user
member_removed = Signal()  # kwargs: membership (already deleted; project and user still readable), user
