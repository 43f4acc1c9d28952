"""Signals the projects app sends; the events app answers the question the retention card asks. (Audit entries
travel by projects.audit.audit_recorded.)"""

from django.dispatch import Signal

# kwargs: project, cutoff (aware datetime). Asked before a shorter retention is saved; each receiver returns a dict
# with "removed": [(singular, plural, count)] (what is older than the cutoff) and/or "next_pruning_at": datetime.
retention_preview = Signal()
