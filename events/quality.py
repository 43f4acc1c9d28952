"""Answer-quality jobs: the chunk-performance rollup and the content-gap aggregation (seed 002).

Both run as management commands (`rollup_chunk_performance`, `aggregate_content_gaps`) and as django.tasks
tasks (`rollup_chunk_performance_task`, `aggregate_content_gaps_task`), which store their summary as the result.

The rollup is incremental and idempotent by construction: it finds the (project, chunk) pairs touched since
the watermark and recomputes each of those chunks' counts from the source rows, instead of adding increments.
Running it twice, or over an overlapping window, therefore gives the same counts.
"""

from collections import Counter, defaultdict
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.tasks import task
from django.utils import timezone

from .models.messages import (
    ChunkPerformance,
    CopyUsage,
    Feedback,
    Message,
    MessageEvent,
    MessageEventType,
    MessageRole,
    NeedMoreReason,
    RollupWatermark,
)

ROLLUP_WATERMARK = "chunk_performance"
# Re-read this much before the watermark: a request that saved its row just before the last run but committed
# just after it is still picked up. Re-reading is harmless because chunks are recomputed, not incremented.
ROLLUP_OVERLAP = timedelta(minutes=5)

REASON_FIELDS = {
    NeedMoreReason.SCRIPTS: "needs_scripts_count",
    NeedMoreReason.EXAMPLES: "needs_examples_count",
    NeedMoreReason.STEPS: "needs_steps_count",
    NeedMoreReason.CASE_STUDY: "needs_case_study_count",
}
COUNT_FIELDS = [
    "times_used",
    "helpful_count",
    "not_helpful_count",
    *REASON_FIELDS.values(),
    "copy_to_use_now_count",
]


def _chunks(value):
    """The distinct string chunk ids of a JSON list (rows written by hand in the admin may hold anything)."""
    if not isinstance(value, list):
        return set()
    return {c for c in value if isinstance(c, str) and c}


def _touching(queryset, chunks):
    """Narrow to rows whose chunk_ids include any of `chunks` where the database can (jsonb `?|`)."""
    if chunks is not None and connection.vendor == "postgresql":
        return queryset.filter(chunk_ids__has_any_keys=sorted(chunks))
    return queryset  # SQLite: filtered in Python by the caller


def _compute_chunks(project_id, chunks):
    """{chunk_id: Counter of COUNT_FIELDS} for the project, for `chunks` (None: every chunk)."""
    stats = defaultdict(Counter)

    def wanted(chunk_ids):
        found = _chunks(chunk_ids)
        return found if chunks is None else found & chunks

    answers = Message.objects.filter(conversation__project_id=project_id, role=MessageRole.ASSISTANT)
    for chunk_ids in _touching(answers, chunks).values_list("chunk_ids", flat=True).iterator(chunk_size=2000):
        for chunk in wanted(chunk_ids):
            stats[chunk]["times_used"] += 1

    events = MessageEvent.objects.filter(
        conversation__project_id=project_id, event_type__in=[MessageEventType.USER_MESSAGE, MessageEventType.COPY]
    )
    rows = _touching(events, chunks).values_list("event_type", "feedback", "chunk_ids", "metadata")
    for event_type, feedback, chunk_ids, metadata in rows.iterator(chunk_size=2000):
        metadata = metadata if isinstance(metadata, dict) else {}
        for chunk in wanted(chunk_ids):
            counts = stats[chunk]
            if event_type == MessageEventType.COPY:
                counts["copy_to_use_now_count"] += metadata.get("copyUsage") == CopyUsage.USE_NOW
            elif feedback == Feedback.HELPFUL:
                counts["helpful_count"] += 1
            elif feedback == Feedback.NOT_HELPFUL:
                counts["not_helpful_count"] += 1
            elif feedback == Feedback.NEED_MORE:
                reasons = metadata.get("needsMore") if isinstance(metadata.get("needsMore"), list) else []
                for reason in set(reasons) & set(REASON_FIELDS):
                    counts[REASON_FIELDS[reason]] += 1
    return stats


def satisfaction(helpful, not_helpful):
    rated = helpful + not_helpful
    return helpful / rated if rated else 0.0


def _dirty_pairs(since):
    """{project_id: {chunk ids}} touched by events changed, or answers created, since `since`."""
    dirty = defaultdict(set)
    changed = MessageEvent.objects.changed_since(since).filter(conversation__isnull=False)
    for project_id, chunk_ids in changed.values_list("conversation__project_id", "chunk_ids").iterator():
        dirty[project_id] |= _chunks(chunk_ids)
    answers = Message.objects.filter(created_at__gte=since, role=MessageRole.ASSISTANT)
    for project_id, chunk_ids in answers.values_list("conversation__project_id", "chunk_ids").iterator():
        dirty[project_id] |= _chunks(chunk_ids)
    return {project_id: chunks for project_id, chunks in dirty.items() if chunks}


def rollup_chunk_performance(full=False):
    """Bring ChunkPerformance up to date. Returns a summary dict (also the task's stored result).

    The watermark row is locked for the whole run, so two runs on two machines take turns instead of racing.
    With no watermark yet (first run, or after the clean-slate command) every chunk is recomputed.
    """
    started = timezone.now()
    with transaction.atomic():
        mark, created = RollupWatermark.objects.get_or_create(
            name=ROLLUP_WATERMARK, defaults={"processed_until": started}
        )
        mark = RollupWatermark.objects.select_for_update().get(pk=mark.pk)
        full = full or created
        if full:
            from projects.models import Project

            work = {pk: None for pk in Project.objects.values_list("pk", flat=True)}
        else:
            work = _dirty_pairs(mark.processed_until - ROLLUP_OVERLAP)

        recomputed = 0
        for project_id, chunks in work.items():
            stats = _compute_chunks(project_id, chunks)
            targets = set(stats) if chunks is None else set(chunks)
            if chunks is None:
                # A full run also zeroes chunks nothing refers to any more (their events were deleted).
                targets |= set(ChunkPerformance.objects.filter(project_id=project_id).values_list("chunk_id", flat=True))
            rows = []
            for chunk in sorted(targets):
                counts = stats.get(chunk, Counter())
                rows.append(ChunkPerformance(
                    project_id=project_id, chunk_id=chunk, updated_at=started,
                    satisfaction_rate=satisfaction(counts["helpful_count"], counts["not_helpful_count"]),
                    **{name: counts[name] for name in COUNT_FIELDS},
                ))
            ChunkPerformance.objects.bulk_create(
                rows, batch_size=500, update_conflicts=True, unique_fields=["project", "chunk_id"],
                update_fields=[*COUNT_FIELDS, "satisfaction_rate", "updated_at"],
            )
            recomputed += len(rows)

        mark.processed_until = started
        mark.last_run_at = timezone.now()
        mark.last_run_chunks = recomputed
        mark.save()
    return {
        "mode": "full" if full else "incremental",
        "projects": len(work),
        "chunks_recomputed": recomputed,
        "processed_until": started.isoformat(),
    }


def reset_rollup_watermark():
    """Forget the watermark: the next rollup recomputes everything (used after deleting events)."""
    RollupWatermark.objects.filter(name=ROLLUP_WATERMARK).delete()


def last_rollup():
    return RollupWatermark.objects.filter(name=ROLLUP_WATERMARK).first()


def content_gaps(project, days=30, limit=10):
    """Where answers fall short: need-more and not-helpful feedback of the last `days` days.

    Top messages come from the database (grouped by the message FK); chunks and reasons live in JSON lists, so
    they are tallied in Python over this project's gap feedback only. Returns plain data (JSON-serialisable).
    """
    since = timezone.now() - timedelta(days=days)
    gaps = MessageEvent.objects.for_project(project).gaps().since(since)
    need_more = Count("id", filter=Q(feedback=Feedback.NEED_MORE))
    not_helpful = Count("id", filter=Q(feedback=Feedback.NOT_HELPFUL))
    top = list(
        gaps.filter(message__isnull=False).order_by().values("message_id")
        .annotate(need_more=need_more, not_helpful=not_helpful, total=Count("id"))
        .order_by("-total", "-not_helpful", "message_id")[:limit]
    )
    messages = Message.objects.select_related("conversation").in_bulk([row["message_id"] for row in top])
    top_messages = []
    for row in top:
        message = messages[row["message_id"]]
        top_messages.append({
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "conversation_title": message.conversation.title,
            "excerpt": message.content[:160],
            "need_more": row["need_more"],
            "not_helpful": row["not_helpful"],
            "total": row["total"],
        })

    chunk_counts = defaultdict(Counter)
    reasons = Counter()
    situations = []
    rows = gaps.order_by("-timestamp").values_list("message_id", "feedback", "chunk_ids", "metadata", "timestamp")
    for message_id, feedback, chunk_ids, metadata, timestamp in rows.iterator():
        metadata = metadata if isinstance(metadata, dict) else {}
        for chunk in _chunks(chunk_ids):
            chunk_counts[chunk][feedback] += 1
        if feedback == Feedback.NEED_MORE:
            listed = metadata.get("needsMore") if isinstance(metadata.get("needsMore"), list) else []
            reasons.update(r for r in set(listed) if r in NeedMoreReason.values)
            text = metadata.get("specificSituation")
            if isinstance(text, str) and text.strip() and len(situations) < limit:
                situations.append({"message_id": message_id, "text": text.strip(), "at": timestamp.isoformat()})
    top_chunks = sorted(
        ({"chunk_id": c, "need_more": n[Feedback.NEED_MORE], "not_helpful": n[Feedback.NOT_HELPFUL],
          "total": n.total()} for c, n in chunk_counts.items()),
        key=lambda row: (-row["total"], row["chunk_id"]),
    )[:limit]
    labels = dict(NeedMoreReason.choices)
    return {
        "project": project.slug,
        "days": days,
        "since": since.isoformat(),
        "feedback_count": gaps.count(),
        "messages": top_messages,
        "chunks": top_chunks,
        "reasons": [{"reason": r, "label": labels[r], "count": n} for r, n in reasons.most_common()],
        "situations": situations,
    }


@task
def rollup_chunk_performance_task(full: bool = False) -> dict:
    return rollup_chunk_performance(full=full)


@task
def aggregate_content_gaps_task(days: int = 30, limit: int = 10) -> dict:
    from projects.models import Project

    return {project.slug: content_gaps(project, days=days, limit=limit) for project in Project.objects.all()}
