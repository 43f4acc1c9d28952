"""Message events: "all events of one message" by the FK vs the old metadata-JSON messageId; cascade delete.

    python -m bench feedback --rows 1000000

Loads --rows MessageEvents (COPY) spread over --messages assistant answers, then times:
  * fk       — MessageEvent.objects.for_message(m): the indexed message FK (what the app does);
  * json     — the old way in SQL: metadata->>'messageId' = m (the bench rows carry messageId in
               metadata on purpose, only to reproduce it; the app strips it);
  * in-app   — the old way literally: the conversation's events by sessionId, filtered in Python;
  * delete   — deleting one message that has --cascade-events events (ON DELETE CASCADE in the database).
The data is kept between runs when its shape is unchanged (--reload forces a fresh load).
"""

import io
import itertools
import json
import random
import time

EVENT_TYPES = ["user_message", "copy", "bookmark", "expansion_followup", "user_message"]
TABLE_EVENTS = "events_messageevent"
COLUMNS = "(message_id, conversation_id, user_id, event_type, feedback, chunk_ids, metadata, timestamp, updated_at)"


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=1_000_000, help="message events to load (default 1,000,000)")
    parser.add_argument("--messages", type=int, default=20_000, help="assistant messages they spread over (default 20,000)")
    parser.add_argument("--conversations", type=int, default=200, help="conversations (default 200)")
    parser.add_argument("--repeat", type=int, default=300,
                        help="timed runs of each FK query (default 300: the CPU is shared, medians need many samples)")
    parser.add_argument("--slow-repeat", type=int, default=10, help="timed runs of each JSON / in-app query (default 10)")
    parser.add_argument("--cascade-events", type=int, default=10_000, help="events on the message deleted (default 10,000)")
    parser.add_argument("--cascade-repeat", type=int, default=5, help="cascade deletes timed (default 5)")
    parser.add_argument("--reload", action="store_true", help="drop the bench data and load it again")


def _users(count):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    existing = {u.username: u.pk for u in User.objects.filter(username__startswith="bench-fb-")}
    missing = [User(username=f"bench-fb-{i}") for i in range(count) if f"bench-fb-{i}" not in existing]
    User.objects.bulk_create(missing)
    return list(User.objects.filter(username__startswith="bench-fb-").order_by("pk").values_list("pk", flat=True))[:count]


def _event_lines(message_ids, conversation_of, users, rows, start_at):
    """COPY text lines. Event k of a message goes to user k, so the one-rating-per-user constraints hold.

    Timestamps rise evenly over the 30 days before `start_at` (a datetime), like a month of real traffic.
    """
    from datetime import timedelta

    step = timedelta(days=30) / max(rows, 1)
    first = start_at - timedelta(days=30)
    per_message = len(message_ids)
    out = io.StringIO()
    for i in range(rows):
        message = message_ids[i % per_message]
        k = i // per_message
        event_type = EVENT_TYPES[k % len(EVENT_TYPES)]
        feedback = "\\N"
        metadata: dict[str, str | list[str]] = {"messageId": str(message)}
        if event_type == "user_message":
            feedback = ("helpful" if k % 2 else "not_helpful") if k % len(EVENT_TYPES) == 0 else "need_more"
            metadata["feedbackType"] = feedback
            if feedback == "need_more":
                metadata["needsMore"] = ["scripts", "steps"]
        elif event_type == "copy":
            metadata["copyUsage"] = "use_now"
        user = users[k] if k < len(users) else "\\N"
        chunks = json.dumps([f"kb-{message % 500}", f"kb-{(message * 7) % 500}"])
        stamp = (first + step * i).isoformat()
        out.write(
            f"{message}\t{conversation_of[message]}\t{user}\t{event_type}\t{feedback}\t{chunks}\t"
            f"{json.dumps(metadata)}\t{stamp}\t{stamp}\n"  # updated when recorded, like real events
        )
        if out.tell() > 8_000_000:
            yield out.getvalue()
            out = io.StringIO()
    yield out.getvalue()


def _copy_events(cursor, lines):
    with cursor.copy(f"COPY {TABLE_EVENTS} {COLUMNS} FROM STDIN") as copy:
        for chunk in lines:
            copy.write(chunk)


def _load(args, project):
    from django.db import connection, transaction
    from django.utils import timezone

    from events.models.messages import Conversation, Message

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE events_messageevent, events_bookmark, events_chunkperformance, events_message, events_conversation"
        )
    users = _users(max(64, -(-args.rows // args.messages)))
    now = timezone.now()
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create(
            Conversation(project=project, title=f"bench conversation {i}", created_at=now) for i in range(args.conversations)
        )
        messages = Message.objects.bulk_create(
            (Message(conversation=conversations[i % len(conversations)], role="assistant", content=f"answer {i}",
                     chunk_ids=[f"kb-{i % 500}"], created_at=now) for i in range(args.messages)),
            batch_size=5000,
        )
    conversation_of = {m.pk: m.conversation_id for m in messages}
    message_ids = [m.pk for m in messages]
    with transaction.atomic(), connection.cursor() as cursor:
        _copy_events(cursor.cursor, _event_lines(message_ids, conversation_of, users, args.rows, now))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE_EVENTS}")
    print(f"loaded {args.rows:,} events over {args.messages:,} messages in {time.perf_counter() - started:.1f} s")


def _cascade_message(project, count, users):
    """A fresh message with `count` events (COPY), for the cascade-delete timing."""
    from django.db import connection, transaction
    from django.utils import timezone

    from events.models.messages import Conversation, Message

    conversation = Conversation.objects.filter(project=project).first()
    if conversation is None:
        raise RuntimeError(f"{project.slug} has no conversation: load the benchmark's data first")
    message = Message.objects.create(conversation=conversation, role="assistant", content="to delete", chunk_ids=["kb-x"])
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        _copy_events(cursor.cursor, _event_lines([message.pk], {message.pk: conversation.pk}, users, count, now))
    return message.pk


def run(args):
    from django.db import connection

    from bench.common import explain, machine_line, timed
    from events.models.messages import Message, MessageEvent
    from projects.models import Project

    project, _ = Project.objects.get_or_create(slug="bench-feedback", defaults={"name": "Bench: feedback"})
    have = MessageEvent.objects.for_project(project).count() if not args.reload else -1
    have_messages = Message.objects.for_project(project).count()
    if have != args.rows or have_messages != args.messages:
        _load(args, project)
    else:
        print(f"reusing {have:,} events over {args.messages:,} messages (pass --reload to load again)")

    rng = random.Random(7)
    sample = rng.sample(list(Message.objects.for_project(project).exclude(content="to delete").values_list("pk", flat=True)), 60)
    ids = itertools.cycle(sample)

    def fk():
        return list(MessageEvent.objects.for_message(next(ids)))

    def json_way():
        return list(MessageEvent.objects.filter(metadata__messageId=str(next(ids))))

    def raw(queryset_for):
        # The same SQL the ORM sends, fetched without building model instances: the database's share.
        def go():
            sql, params = queryset_for(next(ids)).query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        return go

    fk_sql = raw(lambda m: MessageEvent.objects.for_message(m))
    json_sql = raw(lambda m: MessageEvent.objects.filter(metadata__messageId=str(m)))

    conversation_of = dict(Message.objects.for_project(project).values_list("pk", "conversation_id"))

    def in_app():
        message = next(ids)
        rows = MessageEvent.objects.filter(conversation_id=conversation_of[message]).values_list("id", "metadata")
        return [pk for pk, metadata in rows if (metadata or {}).get("messageId") == str(message)]

    expected = len(fk())
    assert len(json_way()) == expected == len(in_app()), "the three ways must find the same events"
    results = {}
    slow = args.slow_repeat
    for name, fn, repeat in [("fk", fk, args.repeat), ("json", json_way, slow), ("in-app", in_app, slow),
                             ("fk-sql", fk_sql, args.repeat), ("json-sql", json_sql, slow)]:
        results[name] = timed(fn, repeat=repeat, warmup=2)
        median, p95, _ = results[name]
        print(f"{name:9} median {median:9.3f} ms   p95 {p95:9.3f} ms   ({repeat} runs, {expected} events per message)")

    def server_ms(queryset_for, repeat):
        # Planning + execution time as PostgreSQL itself reports it: immune to the client waiting for a CPU.
        samples = []
        with connection.cursor() as cursor:
            for _ in range(repeat):
                sql, params = queryset_for(next(ids)).query.sql_with_params()
                cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                samples.append(plan[0]["Planning Time"] + plan[0]["Execution Time"])
        samples.sort()
        return samples[len(samples) // 2], samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))], None

    results["fk-server"] = server_ms(lambda m: MessageEvent.objects.for_message(m), args.repeat)
    results["json-server"] = server_ms(lambda m: MessageEvent.objects.filter(metadata__messageId=str(m)), slow)
    for name in ["fk-server", "json-server"]:
        median, p95, _ = results[name]
        print(f"{name:11} median {median:9.3f} ms   p95 {p95:9.3f} ms   (inside PostgreSQL)")

    plan, seq = explain(MessageEvent.objects.for_message(sample[0]), table_names=[TABLE_EVENTS])
    print("\nEXPLAIN fk:\n" + plan)
    assert not seq, "the FK query must use the index, not scan the table"
    plan_json, _ = explain(MessageEvent.objects.filter(metadata__messageId=str(sample[0])), table_names=[TABLE_EVENTS])
    print("\nEXPLAIN json:\n" + plan_json)

    users = _users(64)
    deletes = []
    for _ in range(args.cascade_repeat):
        message_id = _cascade_message(project, args.cascade_events, users)
        with connection.cursor() as cursor:
            start = time.perf_counter()
            cursor.execute("DELETE FROM events_message WHERE id = %s", [message_id])
            deletes.append((time.perf_counter() - start) * 1000)
        assert not MessageEvent.objects.filter(message_id=message_id).exists()
    # One more under EXPLAIN ANALYZE (which really deletes it), to show the time spent in the cascade trigger.
    message_id = _cascade_message(project, args.cascade_events, users)
    plan_delete, _ = explain(f"DELETE FROM events_message WHERE id = {int(message_id)}")
    trigger_lines = [line.strip() for line in plan_delete.splitlines() if "Trigger" in line or "Execution Time" in line]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM events_message WHERE id = %s", [message_id])
    deletes.sort()
    delete_median = deletes[len(deletes) // 2]
    print(f"\ndelete a message with {args.cascade_events:,} events (database cascade): median {delete_median:.1f} ms, "
          f"max {deletes[-1]:.1f} ms over {len(deletes)} deletes")
    print("\n".join(f"  {line}" for line in trigger_lines))

    from events.quality import (
        cached_content_gaps,
        content_gaps,
        recently_rated_answers,
        rollup_chunk_performance,
    )

    jobs = {}
    jobs["content gaps, computed (30 days)"] = timed(lambda: content_gaps(project), repeat=3, warmup=1)
    jobs["content gaps, as the quality page reads them (cached)"] = timed(lambda: cached_content_gaps(project), repeat=5, warmup=1)
    jobs["quality page: recently rated answers"] = timed(lambda: recently_rated_answers(project), repeat=5, warmup=1)
    jobs["rollup --full"] = timed(lambda: rollup_chunk_performance(full=True), repeat=1, warmup=0)
    touched = MessageEvent.objects.for_project(project).filter(event_type="copy")[:100]
    for event in touched:
        event.save(update_fields=["updated_at"])
    jobs["rollup, incremental (100 events changed)"] = timed(rollup_chunk_performance, repeat=1, warmup=0)
    for name, (median, p95, _) in jobs.items():
        print(f"{name}: median {median:.0f} ms, p95 {p95:.0f} ms")

    fk_median = results["fk"][0]
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("\n--- for docs/PERFORMANCE.md ---")
    print(f"{machine_line()}; load average {load} (the CPU is shared with other work)")
    print(f"rows: {args.rows:,} message events, {args.messages:,} messages, {args.conversations} conversations; "
          f"{expected} events per message")
    for name in results:
        median, p95, _ = results[name]
        # ORM rows are compared with the ORM FK query, SQL rows with the FK query's SQL.
        base = {"sql": results["fk-sql"][0], "server": results["fk-server"][0]}.get(name.rsplit("-", 1)[-1], fk_median)
        print(f"| {name} | {median:.3f} | {p95:.3f} | {median / base:.0f}× |")
    sql_ratio = results["json-sql"][0] / results["fk-sql"][0]
    server_ratio = results["json-server"][0] / results["fk-server"][0]
    print(f"ratio json/fk = {results['json'][0] / fk_median:.0f}× (ORM), {sql_ratio:.0f}× (SQL), {server_ratio:.0f}× (server); "
          f"in-app/fk = {results['in-app'][0] / fk_median:.0f}×")
    print(f"cascade delete of {args.cascade_events:,} events: median {delete_median:.1f} ms")
    for name, (median, p95, _) in jobs.items():
        print(f"| {name} | {median:.0f} ms | {p95:.0f} ms |")
