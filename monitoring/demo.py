def seed(context, log):
    """Workflows, runs, schedules and health checks (filled in by the monitoring issue)."""
    log("  monitoring: none yet")
