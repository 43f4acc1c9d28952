"""The audit trail streamed to disk as JSON Lines, one file per project and UTC hour, in the layout of an S3
bucket (GitHub's audit log streaming): `<AUDIT_STREAM_DIR>/<project slug>/YYYY/MM/DD/HH.jsonl`, `_site` for the
entries of no project.

Delivery is at least once: a chain's watermark (AuditChain.streamed_sequence) moves after its lines are written
and flushed to disk, so a crash in between writes those lines again on the next run. Each line carries its
`sequence` and `entry_hash`: a reader drops repeats, and can check the chain itself.
"""

import json
import os
from datetime import UTC
from pathlib import Path

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from projects.models import Project

from .audit import chains, of_chain
from .models.audit import AuditChain, hex_of

CHUNK = 2000
LINE_FIELDS = ("action_id", "sequence", "created_at", "action_type", "action_details", "status", "environment",
               "source", "actor_type", "actor_label", "actor_key_prefix", "client_address", "user_agent",
               "request_id", "target_type", "target_id", "changes", "prev_hash", "entry_hash")


def _path(root: Path, folder: str, created_at) -> Path:
    moment = created_at.astimezone(UTC)
    return root / folder / f"{moment:%Y}" / f"{moment:%m}" / f"{moment:%d}" / f"{moment:%H}.jsonl"


def stream_to_disk(root) -> dict[str, int]:
    """Append every entry not streamed yet; {project slug: lines written}."""
    root = Path(root)
    slugs = dict(Project.objects.values_list("pk", "slug"))
    written: dict[str, int] = {}
    for chain in chains():
        folder = slugs.get(chain, "_site") if chain else "_site"
        head = AuditChain.objects.filter(chain=chain).first()
        after = head.streamed_sequence if head else 0
        while True:
            rows = list(of_chain(chain).filter(sequence__gt=after).order_by("sequence").values(*LINE_FIELDS)[:CHUNK])
            if not rows:
                break
            files: dict[Path, list[str]] = {}
            for row in rows:
                row["prev_hash"], row["entry_hash"] = hex_of(row["prev_hash"]), hex_of(row["entry_hash"])
                files.setdefault(_path(root, folder, row["created_at"]), []).append(
                    json.dumps({"project": folder, **row}, cls=DjangoJSONEncoder, ensure_ascii=False))
            for path, lines in files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as out:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            after = rows[-1]["sequence"]
            with transaction.atomic():
                AuditChain.objects.filter(chain=chain, streamed_sequence__lt=after).update(streamed_sequence=after)
            written[folder] = written.get(folder, 0) + len(rows)
    return written
