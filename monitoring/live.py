"""Tells the live monitoring pages (lib/live, the monitoring channel) that a run, a check result or a delivery was
recorded, once it is committed. The pages re-read their change token, so the message carries nothing else."""

from django.db import transaction

from lib import live


def announce(kind: str) -> None:
    transaction.on_commit(lambda: live.publish(live.MONITORING, kind))
