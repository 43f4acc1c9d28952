def seed_activity(context, log):
    """A month of activity events and audit actions (filled in by the activity issue)."""
    log("  activity events: none yet")
