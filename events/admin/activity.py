"""Admin for activity events and the audit trail (activity issue)."""
