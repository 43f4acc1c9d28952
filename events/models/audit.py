"""The head of each project's audit hash chain, the signed checkpoint retention leaves behind, and `chain()`,
which gives every new ProjectAction its place (called by ProjectAction.save and bulk_create)."""

import functools
import hashlib
import ipaddress
import json
import operator
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
    last_hash = models.BinaryField(max_length=32, blank=True)  # SHA-256 digests are stored as 32 bytes, not hex
    head_signature = models.CharField(max_length=200, blank=True)
    start_sequence = models.BigIntegerField(default=1)
    start_prev_hash = models.BinaryField(max_length=32, blank=True)
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
_HASHED = operator.attrgetter(*HASHED_FIELDS)


def hex_of(digest) -> str:
    """A stored hash (32 bytes; b"" before the first entry) as the hex text that is hashed, signed and streamed."""
    if not digest:
        return ""
    return digest if isinstance(digest, str) else digest.hex()


def canonical(action, sequence, prev_hex: str) -> bytes:
    """The entry as hashed: a JSON array in a fixed order (HASHED_FIELDS, then the chain's and the time's
    columns), `changes` with sorted keys, the previous hash as hex. One encoder call per entry: cheap enough for
    1,000-row batches."""
    changes = action.changes
    created_at = action.created_at
    if created_at.tzinfo is not UTC:
        created_at = created_at.astimezone(UTC)
    return _ENCODE([*_HASHED(action), chain_id(action.project_id), sequence, prev_hex,
                    created_at.isoformat(timespec="microseconds"),
                    _ENCODE_SORTED(changes) if changes else "{}"]).encode()


def entry_digest(action, sequence, prev_hash) -> bytes:
    """The entry's SHA-256 (32 bytes, as stored) given the previous entry's (bytes, or hex text)."""
    return hashlib.sha256(canonical(action, sequence, hex_of(prev_hash))).digest()


def entry_hash(action, sequence, prev_hash) -> str:
    """The same hash as hex text (what migration 0012 stored before the hashes became bytes)."""
    return hashlib.sha256(canonical(action, sequence, hex_of(prev_hash))).hexdigest()


def _signer():
    return signing.Signer(salt=SIGNER_SALT)


def head_value(head) -> str:
    return f"head:{head.chain}:{head.last_sequence}:{hex_of(head.last_hash)}"


def start_value(head) -> str:
    return f"start:{head.chain}:{head.start_sequence}:{hex_of(head.start_prev_hash)}"


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
    sha256 = hashlib.sha256
    for chain_key in sorted(by_chain):  # one order for every writer: no deadlock between two chains
        head = locked_head(chain_key, using)
        sequence, prev = head.last_sequence, bytes(head.last_hash)
        prev_hex = prev.hex()
        for action in by_chain[chain_key]:
            _normalise(action)
            sequence += 1
            action.sequence, action.prev_hash = sequence, prev
            prev = action.entry_hash = sha256(canonical(action, sequence, prev_hex)).digest()
            prev_hex = prev.hex()
        head.last_sequence, head.last_hash = sequence, prev
        head.head_signature = sign(head_value(head))
        head.save(using=using, update_fields=["last_sequence", "last_hash", "head_signature"])


def actor_columns(actor) -> dict:
    return {"actor_type": actor.type, "actor_label": actor.label[:200], "actor_key_prefix": actor.key_prefix,
            "client_address": actor.address, "user_agent": actor.user_agent[:300], "request_id": actor.request_id}
