"""Signal receivers that record the app's own flows in the audit trail (connected in EventsConfig.ready)."""

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
