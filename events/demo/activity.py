"""A month of demo activity: events of every family and audit actions, some running now and some failed.

Idempotent: every row has a deterministic id (events: external_id "demo-…", actions: action_id "demo-…") and is
bulk-inserted with ignore_conflicts, so a second run adds nothing.
"""

import random
from datetime import timedelta

from django.utils import timezone

from ..models.activity import ActivityEvent, EventStatus, EventType, ProjectAction

DAYS = 30
BRANCHES = ["main", "main", "main", "release/2.4", "feature/webhooks"]
FILES = ["api/views.py", "api/serializers.py", "billing/invoices.py", "auth/tokens.py", "search/index.py", "webhooks/deliver.py"]
QUESTIONS = [
    ("How do I paginate the orders endpoint?", "orders pagination"),
    ("Why does the webhook retry three times?", "webhook retries"),
    ("Which scopes does the billing API need?", "billing scopes"),
    ("How do I rotate an API token?", "token rotation"),
    ("What is the rate limit for search?", "search rate limit"),
    ("Can I filter invoices by customer?", "invoice filters"),
]
ISSUES = [
    ("Null pointer in invoice totals", "billing/invoices.py"),
    ("Timeout when delivering webhooks", "webhooks/deliver.py"),
    ("Token refresh returns 500", "auth/tokens.py"),
    ("Search ignores accents", "search/index.py"),
]
FAILURES = {
    "indexing": ["Repository clone timed out after 120 s", "Embedding service returned 503", "Out of memory while chunking"],
    "apr": ["Generated patch did not compile", "Validation failed: 3 tests broke", "Review rejected: touches public API"],
    "auto_fix": ["No safe fix found", "Fix reverted: test suite failed", "Timeout while reproducing the error"],
}


class _Builder:
    def __init__(self, project, users, now, rng):
        self.project, self.users, self.now, self.rng = project, users, now, rng
        self.events = []
        self.counter = 0

    def user(self):
        return self.rng.choice(self.users + [None])

    def add(self, when, event_type, entity_type, entity_id, title, *, status=EventStatus.COMPLETED, duration=None,
            description=None, metadata=None, user=None):
        self.counter += 1
        self.events.append(ActivityEvent(
            project=self.project, user=user, event_type=event_type, entity_type=entity_type, entity_id=entity_id,
            title=title, description=description, metadata=metadata, status=status, duration=duration,
            external_id=f"demo-{self.counter:05d}", created_at=when,
        ))

    def indexing(self, start, n, *, running=False):
        rng, branch = self.rng, self.rng.choice(BRANCHES)
        run_id, commit = f"idx-{n:04d}", f"{rng.getrandbits(28):07x}"
        files = rng.randint(180, 2400)
        self.add(start, EventType.INDEXING_STARTED, "indexing", run_id, f"Indexing {branch} started",
                 metadata={"branch": branch, "commit": commit, "files": files}, duration=rng.randint(200, 900))
        progress_at = start + timedelta(seconds=rng.randint(20, 90))
        if running:
            self.add(progress_at, EventType.INDEXING_PROGRESS, "indexing", run_id, f"Indexing {branch}: 40% of {files} files",
                     status=EventStatus.IN_PROGRESS, metadata={"branch": branch, "done": int(files * 0.4), "files": files})
            return
        self.add(progress_at, EventType.INDEXING_PROGRESS, "indexing", run_id, f"Indexing {branch}: half of {files} files",
                 metadata={"branch": branch, "done": files // 2, "files": files}, duration=rng.randint(5_000, 40_000))
        took = rng.randint(30_000, 240_000)
        end = start + timedelta(milliseconds=took)
        if rng.random() < 0.12:
            error = rng.choice(FAILURES["indexing"])
            self.add(end, EventType.INDEXING_FAILED, "indexing", run_id, f"Indexing {branch} failed",
                     status=EventStatus.FAILED, duration=took, description=error,
                     metadata={"branch": branch, "commit": commit, "error": error})
        else:
            self.add(end, EventType.INDEXING_COMPLETED, "indexing", run_id, f"Indexed {files} files on {branch}",
                     duration=took, metadata={"branch": branch, "commit": commit, "files": files,
                                              "chunks": files * rng.randint(3, 9)})

    def apr(self, start, n, *, running=False):
        rng = self.rng
        issue, path = rng.choice(ISSUES)
        session, user = f"apr-{n:04d}", self.user()
        meta = {"issue": f"#{rng.randint(100, 999)}", "file": path}
        steps = [
            (EventType.APR_SESSION_CREATED, f"APR session for “{issue}”"),
            (EventType.APR_ANALYZING, f"Analyzing {path}"),
            (EventType.APR_CODE_GENERATION, f"Generating a fix for “{issue}”"),
            (EventType.APR_VALIDATION, "Running the test suite on the patch"),
            (EventType.APR_REVIEW, "Reviewing the patch"),
            (EventType.APR_PR_CREATED, "Pull request opened"),
        ]
        fail_at = rng.randrange(1, len(steps)) if rng.random() < 0.15 else None
        when = start
        for i, (event_type, title) in enumerate(steps):
            took = rng.randint(2_000, 90_000)
            if running and i == 2:
                self.add(when, event_type, "apr_session", session, title, status=EventStatus.IN_PROGRESS, metadata=meta, user=user)
                return
            if fail_at == i:
                error = rng.choice(FAILURES["apr"])
                self.add(when, EventType.APR_FAILED, "apr_session", session, f"APR failed: {issue}", status=EventStatus.FAILED,
                         duration=took, description=error, metadata={**meta, "error": error, "step": event_type.label}, user=user)
                return
            extra = {"pr_url": f"https://github.com/acme/api/pull/{rng.randint(1000, 1999)}"} if event_type == EventType.APR_PR_CREATED else {}
            self.add(when, event_type, "apr_session", session, title, duration=took, metadata={**meta, **extra}, user=user)
            when += timedelta(milliseconds=took)
        self.add(when, EventType.APR_COMPLETED, "apr_session", session, f"APR completed: {issue}",
                 duration=int((when - start).total_seconds() * 1000), metadata=meta, user=user)

    def chat(self, start, n):
        rng = self.rng
        question, topic = rng.choice(QUESTIONS)
        user, message = self.user() or self.users[0], f"msg-{n:05d}"
        self.add(start, EventType.CHAT_MESSAGE_SENT, "chat_message", message, question, user=user,
                 metadata={"conversation": f"conv-{n // 3:04d}", "topic": topic})
        took = rng.randint(800, 12_000)
        self.add(start + timedelta(milliseconds=took), EventType.CHAT_MESSAGE_RECEIVED, "chat_message", f"{message}-answer",
                 f"Answer about {topic}", duration=took, user=user,
                 metadata={"conversation": f"conv-{n // 3:04d}", "tokens": rng.randint(120, 900), "chunks_used": rng.randint(1, 6)})

    def auto_fix(self, start, n):
        rng = self.rng
        issue, path = rng.choice(ISSUES)
        fix = f"fix-{n:04d}"
        self.add(start, EventType.AUTO_FIX_STARTED, "auto_fix", fix, f"Auto-fix started: {issue}", metadata={"file": path},
                 duration=rng.randint(100, 600))
        took = rng.randint(10_000, 180_000)
        if rng.random() < 0.2:
            error = rng.choice(FAILURES["auto_fix"])
            self.add(start + timedelta(milliseconds=took), EventType.AUTO_FIX_FAILED, "auto_fix", fix, f"Auto-fix failed: {issue}",
                     status=EventStatus.FAILED, duration=took, description=error, metadata={"file": path, "error": error})
        else:
            self.add(start + timedelta(milliseconds=took), EventType.AUTO_FIX_COMPLETED, "auto_fix", fix, f"Auto-fix applied: {issue}",
                     duration=took, metadata={"file": path, "lines_changed": rng.randint(2, 40)})

    def codegen(self, start, n):
        rng = self.rng
        path = rng.choice(FILES)
        if rng.random() < 0.5:
            self.add(start, EventType.CODE_SCAFFOLDING, "codegen", f"gen-{n:04d}", f"Scaffolded a module beside {path}",
                     duration=rng.randint(3_000, 30_000), user=self.user(), metadata={"template": "django-app", "files": rng.randint(3, 9)})
        else:
            self.add(start, EventType.TEST_GENERATION, "codegen", f"gen-{n:04d}", f"Generated tests for {path}",
                     duration=rng.randint(5_000, 60_000), user=self.user(), metadata={"file": path, "tests": rng.randint(3, 25)})


def _events(project, users, now, rng):
    b = _Builder(project, users, now, rng)
    n = 0
    for day in range(DAYS, 0, -1):
        base = now - timedelta(days=day)
        busy = 0.5 if base.weekday() >= 5 else 1.0  # quieter weekends
        for kind, low, high in [("indexing", 1, 3), ("apr", 0, 2), ("chat", 3, 9), ("auto_fix", 0, 2), ("codegen", 0, 2)]:
            for _ in range(round(rng.randint(low, high) * busy)):
                n += 1
                start = base + timedelta(seconds=rng.randint(8 * 3600, 19 * 3600))
                getattr(b, kind)(start, n)
    # Today: a little of everything, and work still running right now.
    for minutes in (300, 180, 95, 40, 12):
        n += 1
        b.chat(now - timedelta(minutes=minutes), n)
    b.auto_fix(now - timedelta(minutes=150), n + 1)
    b.indexing(now - timedelta(minutes=6), n + 2, running=True)
    b.apr(now - timedelta(minutes=4), n + 3, running=True)
    return b.events


def _actions(project, users, now, rng):
    slug = project.slug
    owner = users[0]
    rows = [
        (DAYS, "project_created", f"Project '{project.name}' created with container c{rng.getrandbits(24):06x}", "success", "development"),
        (DAYS - 0.1, "database_created", f"Database 'ah_{slug.replace('-', '_')}' created with 3 tables: users, posts, comments", "success", "development"),
        (DAYS - 0.2, "endpoints_added", "Added 2 endpoints: GET /api/users, POST /api/users", "success", "development"),
    ]
    for day in range(DAYS - 1, 0, -1):
        for _ in range(rng.randint(0, 3)):
            kind = rng.choice(["endpoints_added", "queries_executed", "deployment", "github_push", "endpoints_modified", "tables_added"])
            status = "failed" if rng.random() < 0.08 else "success"
            details = {
                "endpoints_added": f"Added {rng.randint(1, 4)} endpoints: GET /api/orders, POST /api/orders",
                "queries_executed": f"Executed {rng.randint(2, 12)} queries affecting tables: users, orders",
                "deployment": f"Deployed to fly.io: https://{slug}.fly.dev" if status == "success" else "Deployment to fly.io failed: health check timed out",
                "github_push": f"Pushed {rng.randint(1, 15)} files to https://github.com/acme/{slug}",
                "endpoints_modified": "Modified GET /api/users: Added pagination",
                "tables_added": f"Added 2 tables to ah_{slug.replace('-', '_')}: orders, payments",
            }[kind]
            env = "production" if kind == "deployment" and rng.random() < 0.6 else "development"
            rows.append((day - rng.random() * 0.9, kind, details, status, env))
    # Today, so the insights read "5 endpoints added today" and a deployment is still running.
    rows += [
        (0.2, "endpoints_added", "Added 3 endpoints: GET /api/invoices, POST /api/invoices, DELETE /api/invoices/{id}", "success", "development"),
        (0.1, "endpoints_added", "Added 2 endpoints: GET /api/customers, PATCH /api/customers/{id}", "success", "development"),
        (0.05, "github_push", f"Pushed 7 files to https://github.com/acme/{slug}", "success", "development"),
        (0.002, "deployment", f"Deploying to fly.io: https://{slug}.fly.dev", "in_progress", "production"),
    ]
    return [
        ProjectAction(
            action_id=f"demo-{slug}-{i:04d}"[:32], project=project, user=rng.choice([owner, owner, None]),
            request_id=f"req_{rng.getrandbits(40):010x}" if rng.random() < 0.7 else None,
            action_type=kind, action_details=details, status=status, environment=env,
            created_at=now - timedelta(days=days_ago),
        )
        for i, (days_ago, kind, details, status, env) in enumerate(rows)
    ]


def add_demo_activity(context, log):
    """A month of activity events and audit actions in every demo project."""
    users = [context["users"]["owner"], context["users"]["viewer"]]
    now = timezone.now()
    for slug, project in context["projects"].items():
        rng = random.Random(f"activity-{slug}")  # noqa: S311  # reproducible demo data, not a secret
        # Added once per project; deterministic ids with ignore_conflicts also cover two runs racing.
        if not ActivityEvent.objects.for_project(project).filter(external_id__startswith="demo-").exists():
            ActivityEvent.objects.bulk_create(_events(project, users, now, rng), batch_size=500, ignore_conflicts=True)
        if not ProjectAction.objects.for_project(project).filter(action_id__startswith="demo-").exists():
            ProjectAction.objects.bulk_create(_actions(project, users, now, rng), batch_size=500, ignore_conflicts=True)
        log(f"  {slug}: {ActivityEvent.objects.for_project(project).count()} activity events, "
            f"{ProjectAction.objects.for_project(project).count()} audit actions")
