"""Claiming work so that two daemons never take the same row.

PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED picks rows no other transaction holds, then the UPDATE stamps them.
Everywhere (SQLite too): the UPDATE repeats the queue's condition (`status = PENDING …`), so a row another daemon
claimed between our SELECT and our UPDATE no longer matches and is not ours. Each claim carries a fresh token;
the rows carrying it afterwards are exactly the ones this call won.
"""

import uuid

from django.db import connection, transaction


def new_token() -> str:
    return uuid.uuid4().hex


def find_candidates(queryset, limit):
    """Primary keys of up to `limit` rows of the queue (locked and skipping locked rows on PostgreSQL)."""
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True)
    return list(queryset.values_list("pk", flat=True)[:limit])


def take(queryset, ids, token, **updates):
    """Stamp the candidates that still match the queue's condition; returns the pks this token won."""
    if not ids:
        return []
    queryset.filter(pk__in=ids).update(claimed_by=token, **updates)
    return list(queryset.model.objects.filter(pk__in=ids, claimed_by=token).values_list("pk", flat=True))


def claim(queryset, limit, **updates):
    """find_candidates + take in one transaction (so PostgreSQL's row locks last until the stamps commit)."""
    token = new_token()
    with transaction.atomic():
        ids = find_candidates(queryset, limit)
        return take(queryset, ids, token, **updates)
