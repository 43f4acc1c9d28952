"""Signal receivers of the projects app's questions (connected in EventsConfig.ready)."""

from .models.activity import ActivityEvent, ProjectAction


def preview_retention(sender, project, cutoff, **kwargs):
    """What a retention cutoff would remove from this project's activity (the Settings page asks before saving)."""
    return {"removed": [
        ("activity event", "activity events", ActivityEvent.objects.for_project(project).before(cutoff).count()),
        ("audit action", "audit actions", ProjectAction.objects.for_project(project).before(cutoff).count()),
    ]}
