"""The feed against django-activity-stream (the peer) on the same rows: first page, type filter, rare filter,
page 100, one user, JSON feed — each scenario's median and the peer's time over ours.

    DJANGO_SETTINGS_MODULE=bench._peer_settings python -m bench peer [--rows 200000] [--repeat 15]

Needs the bench dependency group (`uv sync --group bench`). The same events are stored twice: as ActivityHub's
ActivityEvent rows (through the ingest path) and as actstream Actions (actor = the user, verb = the event type,
target = the project, data = status/title/entity, both GFKs as actstream stores them). Runs are paired: each
repetition times ours then the peer's, back to back, so both see the same machine load. Ours is the code the feed
page runs (paginate_keyset over for_feed(), the filterset for filters); the peer's is its documented stream API
(`Action.objects.target(project)`, `actor_stream(user)`), paged with OFFSET as it offers no keyset, with the GFKs
its templates render resolved (prefetch_related). Bounded: about two minutes at 200,000 rows.
"""

import json
import os
import random
import statistics
import time
from datetime import timedelta


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)


def _load(rows):
    from actstream.models import Action
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from events.models.activity import ActivityEvent, EventType
    from projects.models import Membership, Project, Role

    owner, _ = User.objects.get_or_create(username="peer-owner")
    project, _ = Project.objects.get_or_create(slug="peer-bench", defaults={"name": "Peer bench", "created_by": owner})
    users = [User.objects.get_or_create(username=f"peer-user-{i}")[0] for i in range(20)]
    for user in [owner, *users]:
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.VIEWER})
    have = ActivityEvent.objects.filter(project=project).count()
    if have >= rows and Action.objects.count() >= rows:
        return project, users
    ActivityEvent.objects.filter(project=project).delete()
    Action.objects.all().delete()
    types = [t for t in EventType.values if t != "TEST_GENERATION"]
    rng = random.Random(27)
    now = timezone.now()
    user_ct, project_ct = ContentType.objects.get_for_model(User), ContentType.objects.get_for_model(Project)
    batch_events, batch_actions = [], []
    for i in range(rows):
        rare = i % 100 == 0  # 1 % of the rows: the rare filter
        event_type = "TEST_GENERATION" if rare else rng.choice(types)
        user = users[i % len(users)]
        created = now - timedelta(seconds=(rows - i) * 5)
        status = "FAILED" if i % 17 == 0 else "COMPLETED"
        batch_events.append(ActivityEvent(project=project, user=user, event_type=event_type, status=status,
                                          title=f"Event {i}", entity_type="suite", created_at=created, updated_at=created))
        batch_actions.append(Action(actor_content_type=user_ct, actor_object_id=str(user.pk), verb=event_type,
                                    target_content_type=project_ct, target_object_id=str(project.pk), timestamp=created,
                                    description=f"Event {i}", data={"status": status, "entity_type": "suite"}))
        if len(batch_events) == 5000:
            ActivityEvent.objects.bulk_create(batch_events)
            Action.objects.bulk_create(batch_actions)
            batch_events, batch_actions = [], []
    ActivityEvent.objects.bulk_create(batch_events)
    Action.objects.bulk_create(batch_actions)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project, users


def run(args):
    from actstream import registry
    from actstream.models import Action, actor_stream
    from django.contrib.auth.models import User
    from django.http import QueryDict

    from events.filters import ActivityEventFilter
    from events.models.activity import ActivityEvent
    from events.pagination import cursor_for, paginate_keyset
    from projects.models import Project

    registry.register(User, Project)
    started = time.monotonic()
    project, users = _load(args.rows)
    load_seconds = time.monotonic() - started
    # The rows span weeks before this month: give those months their partitions, as events 0009 does (migrate made
    # this month's and the next only, so they had gone to the DEFAULT partition).
    from bench.partitioning import _months_of_their_own

    _months_of_their_own()
    user = users[3]

    def ours(params="", cursor=None):
        filterset = ActivityEventFilter(QueryDict(params), queryset=ActivityEvent.objects.for_project(project).for_feed(),
                                        project=project)
        assert filterset.is_valid(), filterset.errors
        return paginate_keyset(filterset.qs, cursor, 50).items

    def peer(queryset, offset=0):
        return list(queryset.prefetch_related("actor", "target")[offset:offset + 50])

    def peer_rows(actions):
        for action in actions:  # what its templates show: the actor's and the target's names
            str(action.actor), str(action.target)
        return actions

    target = lambda: Action.objects.target(project)  # noqa: E731
    page99 = paginate_keyset(ActivityEvent.objects.for_project(project).for_feed(), None, 4950).items[-1]
    deep_cursor = cursor_for(page99)

    def ours_json():
        rows = ours()
        return json.dumps([{"id": r.pk, "title": r.title, "date_published": r.created_at.isoformat(),
                            "authors": [{"name": r.actor_name}], "tags": [r.event_type, r.status]} for r in rows])

    def peer_json():
        from actstream.feeds import AbstractActivityStream

        formatter = AbstractActivityStream()
        return json.dumps([formatter.format(a) for a in peer(target())], default=str)

    scenarios = [
        ("first page", lambda: ours(), lambda: peer_rows(peer(target()))),
        ("type filter", lambda: ours("type=INDEXING_COMPLETED"), lambda: peer_rows(peer(target().filter(verb="INDEXING_COMPLETED")))),
        ("rare filter (1 %)", lambda: ours("type=TEST_GENERATION"), lambda: peer_rows(peer(target().filter(verb="TEST_GENERATION")))),
        ("page 100", lambda: ours(cursor=deep_cursor), lambda: peer_rows(peer(target(), offset=4950))),
        ("one user", lambda: ours(f"user={user.username}"), lambda: peer_rows(peer(actor_stream(user)))),
        ("JSON feed", ours_json, peer_json),
    ]
    load = os.getloadavg()
    print(f"peer: {args.rows:,} rows each (loaded in {load_seconds:.0f} s), {args.repeat} paired runs, "
          f"load average {load[0]:.2f} at the start")
    print("| scenario | ours median ms | peer median ms | peer / ours | load avg |")
    print("|---|---|---|---|---|")
    for name, mine, theirs in scenarios:
        mine(), theirs()  # warm both
        a, b = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            mine()
            a.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            theirs()
            b.append((time.perf_counter() - t) * 1000)
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"| {name} | {ma:.2f} | {mb:.2f} | {mb / ma:.1f}× | {os.getloadavg()[0]:.2f} |")
