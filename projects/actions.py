"""Every change to a project, its members and its API keys goes through here (Zulip's zerver/actions is the model):
the views, the admin and the commands call these, and each records itself in the audit trail (projects/audit.py)."""

import functools

from django.db import IntegrityError, transaction
from django.utils import timezone

import outbound
from lib import live
from outbound import engine
from outbound.models import Channel, Delivery, Stream, new_delivery_id

from .audit import key_label, record
from .models import ApiKey, AuditStream, Membership, Project, Role, change_role, remove_member


def _role_word(role) -> str:
    return Role(role).label.lower() if role in Role.values else str(role)


def create_project(project: Project, *, user) -> Project:
    """Save a new (unsaved) project with `user` as its owner."""
    with transaction.atomic():
        project.created_by = user
        project.save()
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        record(project, "project_created", target=("project", project.slug),
               details=f"Project '{project.name}' created by {user.get_username()}")
    return project


def add_member(project, user, role) -> Membership:
    with transaction.atomic():
        added = Membership.objects.create(project=project, user=user, role=role)
        record(project, "member_added", target=("member", user.get_username()),
               details=f"{user.get_username()} added as {_role_word(role)}", after={"role": role})
    return added


def set_member_role(membership, role) -> bool:
    """Change a member's role; False when it already was that role. Raises LastOwnerError."""
    old_role = membership.role
    with transaction.atomic():
        change_role(membership, role)
        if membership.role == old_role:
            return False
        record(membership.project, "member_role_changed", target=("member", membership.user.get_username()),
               details=f"{membership.user.get_username()} changed from {_role_word(old_role)} to "
                       f"{_role_word(membership.role)}",
               before={"role": old_role}, after={"role": membership.role})
        _announce_membership(membership)
    return True


def remove_membership(membership, *, by_user=None) -> None:
    """Remove a member (or let one leave). Raises LastOwnerError."""
    username = membership.user.get_username()
    left = by_user is not None and by_user.pk == membership.user_id
    with transaction.atomic():
        remove_member(membership)
        record(membership.project, "member_removed", target=("member", username),
               details=f"{username} left the project" if left else f"{username} ({_role_word(membership.role)}) removed",
               before={"role": membership.role})
        _announce_membership(membership)


def _announce_membership(membership) -> None:
    """After commit, the member's open live streams re-check their access (a removed member's end)."""
    project_id, user_id = membership.project_id, membership.user_id
    transaction.on_commit(lambda: live.publish(project_id, "membership", {"user_id": user_id}))


def set_retention(project, days) -> bool:
    """Keep activity for `days`; False when that was already the setting."""
    with transaction.atomic():
        old = Project.objects.select_for_update().values_list("retention_days", flat=True).get(pk=project.pk)
        project.retention_days = days
        if old == days:
            return False
        project.save(update_fields=["retention_days"])
        record(project, "retention_changed", target=("project", project.slug),
               details=f"Activity is kept {days:,} days (was {old:,})",
               before={"retention_days": old}, after={"retention_days": days})
    return True


def create_api_key(project, *, name, scope, created_by):
    """Create a key; (key, full token): the token is never stored and shown only once."""
    with transaction.atomic():
        key, token = ApiKey.objects.create_key(project=project, name=name, scope=scope, created_by=created_by)
        record(project, "api_key_created", target=("api_key", key.prefix),
               details=f"API key “{key.name}” (ah_{key.prefix}_…, {key.get_scope_display().lower()}) created",
               after={"scope": key.scope})
    return key, token


def revoke_api_key(key) -> bool:
    """Revoke a key; False when it already was (two owners revoking at once record one revocation)."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            record(key.project, "api_key_revoked", target=("api_key", key.prefix),
                   details=f"{key_label(key)} revoked")
    return bool(revoked)


def revoke_api_keys(queryset) -> int:
    return sum(revoke_api_key(key) for key in queryset.filter(revoked_at__isnull=True).select_related("project"))


# --- audit streaming (GitHub's audit log streaming): its sending is notifications/audit_stream.py's ----------------


class AuditStreamExists(Exception):
    """The project already streams its audit trail (one stream per project)."""


def _stream_target(stream):
    return ("audit_stream", stream.pk)


def _stream_snapshot(stream) -> dict:
    return {"url": stream.host, "paused": stream.paused}  # the host only: a webhook URL may be a credential


def create_audit_stream(project, url, *, by=None) -> tuple[AuditStream, str]:
    """Start streaming `project`'s audit trail to `url`, from the entry that records it on; (stream, its signing
    secret): the secret is shown once. Raises AuditStreamExists when the project already has a stream."""
    try:
        with transaction.atomic():
            stream = AuditStream.objects.create(project=project, url=url, secret=outbound.new_secret(), created_by=by)
            entry = record(project, "audit_stream_created", target=_stream_target(stream),
                           details=f"Audit trail streamed to {stream.host} from this entry on",
                           after=_stream_snapshot(stream))
            stream.sent_sequence = max(0, (entry.sequence or 1) - 1)  # this very entry is the first one sent
            stream.save(update_fields=["sent_sequence"])
    except IntegrityError:
        raise AuditStreamExists("This project already streams its audit trail; change its URL instead.") from None
    return stream, stream.secret


def change_audit_stream_url(stream, url) -> bool:
    """Send the next batches to `url` (the entries still to send go there, in order); False when unchanged."""
    if url == stream.url:
        return False
    with transaction.atomic():
        before = _stream_snapshot(stream)
        stream.url = url
        stream.save(update_fields=["url", "updated_at"])
        record(stream.project, "audit_stream_changed", target=_stream_target(stream),
               details=f"Audit stream now sent to {stream.host}", before=before, after=_stream_snapshot(stream))
    return True


def set_audit_stream_paused(stream, paused: bool) -> bool:
    """Pause (a batch being retried is cancelled, nothing is skipped) or resume from the first entry not
    delivered; False when it already was."""
    with transaction.atomic():
        changed = AuditStream.objects.filter(pk=stream.pk, paused=not paused).update(
            paused=paused, paused_reason="", updated_at=timezone.now())
        if not changed:
            return False
        before = _stream_snapshot(stream)
        stream.paused, stream.paused_reason = paused, ""
        record(stream.project, "audit_stream_paused" if paused else "audit_stream_resumed",
               target=_stream_target(stream),
               details=f"Audit stream to {stream.host} paused" if paused else
               f"Audit stream to {stream.host} resumed from entry #{stream.sent_sequence + 1}",
               before=before, after=_stream_snapshot(stream))
    return True


def delete_audit_stream(stream) -> None:
    """Stop streaming and forget the stream (its secret too); its attempts stay in the delivery log."""
    target, before = _stream_target(stream), _stream_snapshot(stream)
    with transaction.atomic():
        stream.delete()
        record(stream.project, "audit_stream_removed", target=target,
               details=f"Audit stream to {stream.host} removed; entries up to #{stream.sent_sequence} had been "
                       "delivered", before=before)


def send_audit_stream_test(stream, *, by=None) -> Delivery | None:
    """GitHub's ping: a small signed message to the stream's URL (paused or not), stored now and sent by a task
    after commit; not retried, and it moves nothing. The stored attempt."""
    project = stream.project
    delivery_id = new_delivery_id()
    who = f" by {by.get_username()}" if by is not None else ""
    with transaction.atomic():
        stored = engine.store(
            stream=Stream.AUDIT, delivery_key=f"{stream.destination}|ping:{delivery_id}", delivery_id=delivery_id,
            manual=True, source="ping", source_id=delivery_id, project_id=project.pk, destination=stream.destination,
            channel=Channel.WEBHOOK, target=stream.url, event_type="ping",
            subject=f"Test delivery of the audit stream of {project.name}",
            text=f"This is a test delivery of the audit stream of {project.name}, sent{who} from its Settings page. "
                 "Audit entries arrive as type audit.entries.",
            payload={"project": {"slug": project.slug, "name": project.name}, "entries": [], "test": True})
        if stored is None:
            return None
        record(project, "audit_stream_test_delivery_sent", target=_stream_target(stream),
               details=f"Test delivery {delivery_id} sent to {stream.host}")
        transaction.on_commit(functools.partial(engine.send_deliveries.enqueue, [stored.pk]))
    return stored


# --- the admin: a staff member's save is recorded like any other change -------------------------------------------


def admin_saved(obj, *, project, form=None, created=False, target_type=None) -> None:
    """Record a save made in the Django admin: what the form changed, before → after."""
    target = (target_type or obj._meta.model_name, str(getattr(obj, "slug", None) or obj.pk))
    fields = list(form.changed_data) if form is not None else []
    before = {f: form.initial.get(f) for f in fields} if form is not None and not created else {}
    after = {f: form.cleaned_data.get(f) for f in fields} if form is not None else {}
    verb = "added" if created else "changed"
    record(project, f"{target[0]}_{verb}_in_admin", target=target,
           details=f"{obj._meta.verbose_name.capitalize()} “{obj}” {verb} in the admin", before=before, after=after)


def admin_deleted(obj, *, project, target_type=None) -> None:
    target = (target_type or obj._meta.model_name, str(getattr(obj, "slug", None) or obj.pk))
    record(project, f"{target[0]}_deleted_in_admin", target=target,
           details=f"{obj._meta.verbose_name.capitalize()} “{obj}” deleted in the admin")
