"""Answer-quality jobs: the chunk-performance rollup and the content-gap aggregation.

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


def _json_sql():
    """The JSON expressions that differ between PostgreSQL (jsonb) and SQLite (JSON1), as SQL fragments.

    `elements(column, key, alias)` joins one row per element of the JSON array in `column` (or in its `key`),
    nothing when that is not an array; the element is `alias.value`. `text(column, key)` reads a string member.
    """
    if connection.vendor == "postgresql":
        def jsonb_elements(column, key, alias):
            expr = column if key is None else f"({column} -> '{key}')"
            return (f"CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof({expr}) = 'array' "
                    f"THEN {expr} ELSE '[]'::jsonb END) AS {alias}(value)")

        return {"elements": jsonb_elements, "text": lambda column, key: f"({column} ->> '{key}')"}

    def elements(column, key, alias):
        kind = f"json_type({column})" if key is None else f"json_type({column}, '$.{key}')"
        value = column if key is None else f"json_extract({column}, '$.{key}')"
        return f", json_each(CASE WHEN {kind} = 'array' THEN {value} ELSE '[]' END) AS {alias}"

    return {"elements": elements, "text": lambda column, key: f"json_extract({column}, '$.{key}')"}


def _grouped_by_element(queryset, column, key, select_sql, params=()):
    """Group the rows of `queryset` (as t) by each element of a JSON array: the GROUP BY runs in the database.

    The queryset's own SQL is the derived table t, so its filters (project, window, types) stay ORM code.
    """
    columns = ["id", "event_type", "feedback", "chunk_ids", "metadata"] if queryset.model is MessageEvent else ["id", "chunk_ids"]
    inner, inner_params = queryset.order_by().values(*columns).query.sql_with_params()
    sql = (
        f"SELECT g.value, {select_sql} FROM ({inner}) t {_json_sql()['elements'](column, key, 'g')} "
        f"GROUP BY g.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *inner_params])  # the SELECT list's placeholders come first
        return cursor.fetchall()


def _count_where(condition):
    # COUNT(DISTINCT …): an id listed twice in one array still counts once.
    return f"COUNT(DISTINCT CASE WHEN {condition} THEN t.id END)"


def _compute_chunks(project_id, chunks):
    """{chunk_id: Counter of COUNT_FIELDS} for the project, for `chunks` (None: every chunk)."""
    j = _json_sql()
    stats: defaultdict[str, Counter[str]] = defaultdict(Counter)

    answers = Message.objects.filter(conversation__project_id=project_id, role=MessageRole.ASSISTANT)
    for chunk, used in _grouped_by_element(_touching(answers, chunks), "t.chunk_ids", None, "COUNT(DISTINCT t.id)"):
        stats[chunk]["times_used"] = used

    events = MessageEvent.objects.filter(
        conversation__project_id=project_id, event_type__in=[MessageEventType.USER_MESSAGE, MessageEventType.COPY]
    )
    reasons = list(REASON_FIELDS)
    needs = [
        _count_where(
            f"t.feedback = 'need_more' AND EXISTS (SELECT 1 FROM (SELECT 1 AS one) AS x "
            f"{j['elements']('t.metadata', 'needsMore', 'r')} WHERE r.value = %s)"
        )
        for _ in reasons
    ]
    select = ", ".join([
        _count_where("t.event_type = 'user_message' AND t.feedback = 'helpful'"),
        _count_where("t.event_type = 'user_message' AND t.feedback = 'not_helpful'"),
        *needs,
        _count_where(f"t.event_type = 'copy' AND {j['text']('t.metadata', 'copyUsage')} = %s"),
    ])
    params = [*reasons, CopyUsage.USE_NOW]
    for chunk, helpful, not_helpful, *rest in _grouped_by_element(_touching(events, chunks), "t.chunk_ids", None, select, params):
        counts = stats[chunk]
        counts["helpful_count"], counts["not_helpful_count"] = helpful, not_helpful
        for reason, n in zip(reasons, rest[: len(reasons)], strict=True):
            counts[REASON_FIELDS[reason]] = n
        counts["copy_to_use_now_count"] = rest[-1]
    if chunks is not None:
        stats = defaultdict(Counter, {c: n for c, n in stats.items() if c in chunks})
    return stats


def satisfaction(helpful, not_helpful):
    rated = helpful + not_helpful
    return helpful / rated if rated else 0.0


def _dirty_pairs(since):
    """{project_id: {chunk ids}} touched by events changed, or answers created, since `since`."""
    dirty: defaultdict[int, set[str]] = defaultdict(set)
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
            if chunks is not None and len(chunks) >= 50 and len(chunks) * 4 >= ChunkPerformance.objects.filter(project_id=project_id).count():
                # A quarter or more of the project's chunks changed: one pass over all its rows costs less than
                # filtering by that many chunk ids, and the result is the same.
                chunks = None
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


def recently_rated_answers(project, limit=25):
    """The answers with the most recent feedback or copies, newest first, with their counts (by the FK).

    Walks the events backwards on the timestamp index and stops at `limit` distinct answers, instead of
    grouping every event of the project (seconds at a million events).
    """
    recent = (
        MessageEvent.objects.for_project(project)
        .filter(message__isnull=False, event_type__in=[MessageEventType.USER_MESSAGE, MessageEventType.COPY])
        .order_by("-timestamp", "-id")
        .values_list("message_id", flat=True)
    )
    ids = []
    for message_id in recent[: limit * 40].iterator(chunk_size=500):
        if message_id not in ids:
            ids.append(message_id)
            if len(ids) == limit:
                break
    rows = Message.objects.filter(pk__in=ids).with_feedback_counts().select_related("conversation")
    order = {pk: i for i, pk in enumerate(ids)}
    return sorted(rows, key=lambda m: order[m.pk])


def content_gaps(project, days=30, limit=10):
    """Where answers fall short: need-more and not-helpful feedback of the last `days` days.

    Everything is grouped in the database: top messages by the message FK, chunks and reasons by the elements
    of their JSON lists. Returns plain data (JSON-serialisable), also stored as the task's result.
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

    per_kind = ", ".join([_count_where("t.feedback = 'need_more'"), _count_where("t.feedback = 'not_helpful'"), "COUNT(DISTINCT t.id)"])
    top_chunks = sorted(
        ({"chunk_id": chunk, "need_more": need_more_n, "not_helpful": not_helpful_n, "total": total}
         for chunk, need_more_n, not_helpful_n, total in _grouped_by_element(gaps, "t.chunk_ids", None, per_kind)),
        key=lambda row: (-row["total"], row["chunk_id"]),
    )[:limit]
    asked = _grouped_by_element(gaps.filter(feedback=Feedback.NEED_MORE), "t.metadata", "needsMore", "COUNT(DISTINCT t.id)")
    reasons = Counter({reason: n for reason, n in asked if reason in NeedMoreReason.values})
    situations: list[dict[str, str]] = []
    written = gaps.filter(feedback=Feedback.NEED_MORE, metadata__specificSituation__isnull=False).exclude(
        metadata__specificSituation=None
    )
    for message_id, metadata, timestamp in written.order_by("-timestamp").values_list("message_id", "metadata", "timestamp")[: limit * 3]:
        text = metadata.get("specificSituation") if isinstance(metadata, dict) else None
        if isinstance(text, str) and text.strip() and len(situations) < limit:
            situations.append({"message_id": message_id, "text": text.strip(), "at": timestamp.isoformat()})
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


GAPS_CACHE_SECONDS = 600


def _gaps_cache_key(project, days):
    return f"events:content-gaps:{project.pk}:{days}"


def refresh_content_gaps(project, days=30, limit=10):
    """Compute the gaps and keep them for the quality page (what the job does for every project)."""
    from django.core.cache import cache

    report = {**content_gaps(project, days=days, limit=limit), "computed_at": timezone.now().isoformat()}
    cache.set(_gaps_cache_key(project, days), report, GAPS_CACHE_SECONDS)
    return report


def cached_content_gaps(project, days=30):
    """The gaps as the quality page shows them: at most GAPS_CACHE_SECONDS old (seconds to compute at 1M events)."""
    from django.core.cache import cache

    return cache.get(_gaps_cache_key(project, days)) or refresh_content_gaps(project, days=days)


@task
def rollup_chunk_performance_task(full: bool = False) -> dict:
    return rollup_chunk_performance(full=full)


@task
def aggregate_content_gaps_task(days: int = 30, limit: int = 10) -> dict:
    from projects.models import Project

    return {project.slug: refresh_content_gaps(project, days=days, limit=limit) for project in Project.objects.all()}
