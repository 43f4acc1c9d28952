"""The audit trail's writer and its hash chain.

    write_witnessed(entry)        # projects.audit.record() lands here (the audit_recorded receiver)
    chain(actions)                # gives new ProjectActions their place in their project's chain (save/bulk_create)
    verify(chain_id)              # the first entry edited, deleted or inserted out of band, or None
    checkpoint_after_pruning()    # retention removed the oldest entries: sign where the chain now starts

Each entry stores the SHA-256 of its canonical content (every column a person reads, its place in the chain and
the previous entry's hash). The chain's head (last place and hash) and start are kept in AuditChain and signed
with the site's key (django.core.signing, so SECRET_KEY_FALLBACKS verify during a rotation): whoever edits rows
by hand must also forge the signature to hide it. Appending locks the chain's AuditChain row, so concurrent
writers on PostgreSQL line up per project and never take the same place.
"""

from dataclasses import dataclass

from django.db import transaction

from projects.audit import Actor, acting_as, record
from projects.models import Project

from .ingest import actions_recorded
from .models.activity import ActionSource, ActorType, ProjectAction
from .models.audit import (
    AuditChain,
    actor_columns,
    chain_id,
    entry_digest,
    head_value,
    locked_head,
    sign,
    signed,
    start_value,
)


def write_witnessed(sender, entry, **kwargs):
    """Receiver of projects.audit.audit_recorded: store what ActivityHub saw, attributed to its actor."""
    actor = entry.actor
    action = ProjectAction(
        project=entry.project, action_type=entry.action, action_details=entry.details,
        environment=entry.environment, source=ActionSource.WITNESSED,
        user=actor.user if actor.type == ActorType.USER else None, **actor_columns(actor),
        target_type=entry.target_type[:40], target_id=entry.target_id[:200], changes=entry.changes,
    )
    action.save()
    if action.project_id is not None and actions_recorded.has_listeners(ProjectAction):
        # Subscriptions that match audit actions hear of witnessed ones as of reported ones (after the commit).
        project, user = entry.project, action.user
        transaction.on_commit(lambda: actions_recorded.send(sender=ProjectAction, project=project,
                                                            action_ids=[action.action_id], user=user))
    return action


# --- verification ----------------------------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str  # "edited", "deleted", "inserted", "signature"
    sentence: str
    sequence: int | None = None
    action_id: str | None = None


def _describe(row) -> str:
    return f"entry #{row.sequence} ({row.action_type}, {row.created_at:%d %b %Y %H:%M:%S} UTC, id {row.action_id})"


def _described(row) -> str:
    text = _describe(row)
    return text[:1].upper() + text[1:]


def verify(chain: int) -> Problem | None:
    """The first thing wrong with one chain, in chain order, or None when every entry is as it was written."""
    head = AuditChain.objects.filter(chain=chain).first()
    rows = of_chain(chain).order_by("sequence", "action_id")
    if head is None:
        first = rows.first()
        if first is None:
            return None
        return Problem("inserted", f"Entry {first.action_id} ({first.action_type}) was inserted out of band: the "
                       "project has no audit chain.", first.sequence, first.action_id)
    if not signed(head_value(head), head.head_signature) or not signed(start_value(head), head.start_signature):
        return Problem("signature", "The chain's signed head or start was changed by hand (its signature "
                           "does not match).")
    expected, prev, last_row = head.start_sequence, head.start_prev_hash, None
    for row in rows.iterator(chunk_size=2000):
        if row.sequence is None:
            return Problem("inserted", f"Entry {row.action_id} ({row.action_type}, {row.created_at:%d %b %Y %H:%M:%S}"
                           " UTC) was inserted out of band: it has no place in the chain.", None, row.action_id)
        if row.sequence < expected:
            return Problem("inserted", f"{_described(row)} was inserted out of band: that place in the "
                           "chain is already taken or was pruned.", row.sequence, row.action_id)
        if row.sequence > expected:
            after = f"after {_describe(last_row)}" if last_row else "at the start of the chain"
            missing = row.sequence - expected
            return Problem("deleted", f"{missing} entr{'y' if missing == 1 else 'ies'} (#{expected}"
                           f"{'' if missing == 1 else f'–#{row.sequence - 1}'}) deleted {after}.", expected, None)
        if entry_digest(row, row.sequence, row.prev_hash) != row.entry_hash:
            return Problem("edited", f"{_described(row)} was edited: its content no longer matches its "
                           "hash.", row.sequence, row.action_id)
        if row.prev_hash != prev:
            return Problem("inserted", f"{_described(row)} does not follow the entry before it: it was "
                           "inserted or the chain was rewritten.", row.sequence, row.action_id)
        expected, prev, last_row = row.sequence + 1, row.entry_hash, row
    if expected - 1 < head.last_sequence:
        missing = head.last_sequence - expected + 1
        after = f"after {_describe(last_row)}" if last_row else "(every entry since the start)"
        return Problem("deleted", f"The newest {missing} entr{'y' if missing == 1 else 'ies'} (#{expected}–"
                       f"#{head.last_sequence}) deleted {after}.", expected, None)
    if expected - 1 > head.last_sequence:
        return Problem("inserted", f"Entries after #{head.last_sequence} were inserted out of band.",
                       head.last_sequence + 1, None)
    if last_row is not None and prev != head.last_hash:
        return Problem("edited", f"{_described(last_row)} does not match the chain's signed head.",
                       last_row.sequence, last_row.action_id)
    return None


def of_chain(chain: int):
    return ProjectAction.objects.filter(project_id=chain) if chain else ProjectAction.objects.filter(project__isnull=True)


def chains() -> list[int]:
    """Every chain to check: those with a head, and any project holding entries without one."""
    # A deleted project takes its entries with it (the foreign key cascades) and leaves nothing to verify.
    live = set(Project.objects.values_list("pk", flat=True)) | {0}
    with_head = set(AuditChain.objects.values_list("chain", flat=True)) & live
    with_rows = {chain_id(pk) for pk in ProjectAction.objects.order_by().values_list("project_id", flat=True).distinct()}
    return sorted(with_head | with_rows)


# --- retention -------------------------------------------------------------------------------------------------


def checkpoint_after_pruning(project_ids) -> None:
    """Retention removed the oldest entries of these chains: the first surviving entry is where each now starts
    (its place and the hash it points back to, signed)."""
    for chain_key in sorted({chain_id(pk) for pk in project_ids}):
        with transaction.atomic():
            head = locked_head(chain_key, "default")
            first = (of_chain(chain_key).filter(sequence__isnull=False).order_by("sequence")
                     .values_list("sequence", "prev_hash").first())
            sequence, prev_hash = (first[0] or 0, first[1]) if first else (head.last_sequence + 1, head.last_hash)
            if sequence <= head.start_sequence:
                continue
            head.pruned_before_sequence = sequence
            head.start_sequence, head.start_prev_hash = sequence, prev_hash
            head.start_signature = sign(start_value(head))
            head.save(update_fields=["start_sequence", "start_prev_hash", "start_signature", "pruned_before_sequence"])


def verify_all(project=None) -> list[tuple[int, int, Problem | None]]:
    """[(chain, entries checked, first problem or None)] for one project's chain or every chain."""
    keys = [project.pk] if project is not None else chains()
    return [(key, of_chain(key).count(), verify(key)) for key in keys]


def record_pruning(plan) -> None:
    """One entry per project that retention removed rows from (how many of each), by ActivityHub itself; dropped
    month partitions (rows of many projects) go to the site-wide chain."""
    removed: dict[int, dict[str, int]] = {}
    dropped = []
    for removal in plan.removals:
        if removal.drop:
            dropped.append(removal)
            continue
        kind = "audit_actions_removed" if removal.table.startswith("project_actions") else "activity_events_removed"
        counts = removed.setdefault(removal.project_id, {})
        counts[kind] = counts.get(kind, 0) + removal.rows
    projects = Project.objects.in_bulk(list(removed))
    with acting_as(Actor.system("retention pruning")):
        for project_id, counts in sorted(removed.items()):
            project = projects.get(project_id)
            if project is None:
                continue
            parts = [f"{n:,} {kind.replace('_removed', '').replace('_', ' ')}" for kind, n in counts.items() if n]
            record(project, "retention_pruned", target=("project", project.slug), changes=counts,
                   details=f"{' and '.join(parts)} older than {project.retention_days:,} days removed")
        if dropped:
            record(None, "retention_pruned", target=("partitions", ", ".join(r.table for r in dropped)[:200]),
                   changes={"rows_removed": sum(r.rows for r in dropped)},
                   details=f"Month partitions dropped: {', '.join(r.line(True) for r in dropped)}")
