"""Signal receivers that record the app's own flows in the audit trail (connected in EventsConfig.ready)."""

from projects.models import Role

from .models.activity import ActivityEvent, ProjectAction
from .tracking import track_activity


def record_project_created(sender, project, user=None, **kwargs):
    track_activity(
        project=project,
        action_type="project_created",
        action_details=f"Project '{project.name}' created by {user.get_username() if user else 'the system'}",
        user=user,
    )


def record_member_added(sender, membership, user=None, **kwargs):
    track_activity(
        project=membership.project,
        action_type="member_added",
        action_details=f"{membership.user.get_username()} added as {membership.get_role_display().lower()}",
        user=user,
    )


def record_member_role_changed(sender, membership, old_role, user=None, **kwargs):
    old_label = Role(old_role).label.lower() if old_role in Role.values else old_role
    track_activity(
        project=membership.project,
        action_type="member_role_changed",
        action_details=f"{membership.user.get_username()} changed from {old_label} to {membership.get_role_display().lower()}",
        user=user,
    )


def record_member_removed(sender, membership, user=None, **kwargs):
    username = membership.user.get_username()
    left = user is not None and user.pk == membership.user_id
    track_activity(
        project=membership.project,
        action_type="member_removed",
        action_details=f"{username} left the project" if left else f"{username} ({membership.get_role_display().lower()}) removed",
        user=user,
    )


def record_api_key_created(sender, key, user=None, **kwargs):
    track_activity(
        project=key.project,
        action_type="api_key_created",
        action_details=f"API key “{key.name}” (ah_{key.prefix}_…, {key.get_scope_display().lower()}) created",
        user=user,
    )


def record_api_key_revoked(sender, key, user=None, **kwargs):
    track_activity(
        project=key.project,
        action_type="api_key_revoked",
        action_details=f"API key “{key.name}” (ah_{key.prefix}_…) revoked",
        user=user,
    )


def preview_retention(sender, project, cutoff, **kwargs):
    """What a retention cutoff would remove from this project's activity (the Settings page asks before saving)."""
    return {"removed": [
        ("activity event", "activity events", ActivityEvent.objects.for_project(project).before(cutoff).count()),
        ("audit action", "audit actions", ProjectAction.objects.for_project(project).before(cutoff).count()),
    ]}
