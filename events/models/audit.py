"""The head of each project's audit hash chain, the signed checkpoint retention leaves behind, and `chain()`,
which gives every new ProjectAction its place (called by ProjectAction.save and bulk_create)."""

import functools
import hashlib
import ipaddress
import json
from datetime import UTC

from django.core import signing
from django.db import models


class AuditChain(models.Model):
    """One row per chain (a project's, or chain 0 for entries of no project).

    Appending locks this row (SELECT … FOR UPDATE), so two writers never take the same place in the chain; the
    head (last sequence and hash) and the start (the first entry that must still exist, after retention pruned
    what came before it) are signed with the site's key, so rewriting the whole chain by hand is caught too.
    """

    chain = models.BigIntegerField(primary_key=True)  # the project's id; 0 for entries of no project
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    head_signature = models.CharField(max_length=200, blank=True)
    start_sequence = models.BigIntegerField(default=1)
    start_prev_hash = models.CharField(max_length=64, blank=True)
    start_signature = models.CharField(max_length=200, blank=True)
    pruned_before_sequence = models.BigIntegerField(default=0)  # entries below start_sequence went by retention
    streamed_sequence = models.BigIntegerField(default=0)  # the last entry written to AUDIT_STREAM_DIR

    class Meta:
        db_table = "audit_chains"

    def __str__(self):
        return f"audit chain {self.chain} at {self.last_sequence}"


SIGNER_SALT = "events.audit.chain"
HASHED_FIELDS = ("action_id", "action_type", "action_details", "status", "environment", "request_id", "source",
                 "actor_type", "actor_label", "actor_key_prefix", "client_address", "user_agent", "target_type",
                 "target_id")


def chain_id(project_id) -> int:
    return project_id or 0


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
_ENCODE_SORTED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, sort_keys=True).encode


def canonical(action, sequence, prev_hash) -> bytes:
    """The entry as hashed: a JSON array in a fixed order (HASHED_FIELDS, then the chain's and the time's
    columns), `changes` with sorted keys. One encoder call per entry: cheap enough for 1,000-row batches."""
    changes = action.changes
    content = [getattr(action, name) for name in HASHED_FIELDS]
    content += [chain_id(action.project_id), sequence, prev_hash,
                action.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
                _ENCODE_SORTED(changes) if changes else "{}"]
    return _ENCODE(content).encode()


def entry_hash(action, sequence, prev_hash) -> str:
    return hashlib.sha256(canonical(action, sequence, prev_hash)).hexdigest()


def _signer():
    return signing.Signer(salt=SIGNER_SALT)


def head_value(head) -> str:
    return f"head:{head.chain}:{head.last_sequence}:{head.last_hash}"


def start_value(head) -> str:
    return f"start:{head.chain}:{head.start_sequence}:{head.start_prev_hash}"


def sign(value: str) -> str:
    return _signer().sign(value).rsplit(":", 1)[1]


def signed(value: str, signature: str) -> bool:
    try:
        _signer().unsign(f"{value}:{signature}")
    except signing.BadSignature:
        return False
    return True


def locked_head(chain: int, using: str) -> AuditChain:
    heads = AuditChain.objects.using(using).select_for_update()
    head = heads.filter(chain=chain).first()
    if head is None:
        fresh = AuditChain(chain=chain)
        fresh.head_signature, fresh.start_signature = sign(head_value(fresh)), sign(start_value(fresh))
        AuditChain.objects.using(using).bulk_create([fresh], ignore_conflicts=True)
        head = heads.get(chain=chain)
    return head


@functools.lru_cache(maxsize=256)
def _address(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _normalise(action):
    """Store each value exactly as it is hashed (the address as the database gives it back, plain JSON)."""
    if action.client_address:
        action.client_address = _address(action.client_address)
    if action.changes:
        action.changes = json.loads(_ENCODE(action.changes))
    else:
        action.changes = {}


def chain(actions, using="default"):
    """Give each new action its place: sequence, prev_hash, entry_hash (call inside the transaction that inserts
    them; the chain's head stays locked until it commits)."""
    by_chain: dict[int, list] = {}
    for action in actions:
        by_chain.setdefault(chain_id(action.project_id), []).append(action)
    for chain_key in sorted(by_chain):  # one order for every writer: no deadlock between two chains
        head = locked_head(chain_key, using)
        for action in by_chain[chain_key]:
            _normalise(action)
            sequence = head.last_sequence + 1
            action.sequence, action.prev_hash = sequence, head.last_hash
            action.entry_hash = entry_hash(action, sequence, head.last_hash)
            head.last_sequence, head.last_hash = sequence, action.entry_hash
        head.head_signature = sign(head_value(head))
        head.save(using=using, update_fields=["last_sequence", "last_hash", "head_signature"])


def actor_columns(actor) -> dict:
    return {"actor_type": actor.type, "actor_label": actor.label[:200], "actor_key_prefix": actor.key_prefix,
            "client_address": actor.address, "user_agent": actor.user_agent[:300], "request_id": actor.request_id}
