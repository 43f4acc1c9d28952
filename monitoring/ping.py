"""Cron check-ins, as healthchecks.io has them: every schedule has a secret ping URL.

    30 2 * * 1-5  /srv/nightly.sh && curl -fsS -m 10 --retry 5 https://…/ping/<token>

    /ping/<token>                 the job succeeded
    /ping/<token>/start           the job started (the success or failure that follows measures its duration)
    /ping/<token>/fail            the job failed
    /ping/<token>/<exit status>   0 succeeded, 1–255 failed (`…/ping/<token>/$?`)

GET, HEAD and POST are accepted; a POST body (a log tail, an error) is kept with the ping, cut at
PING_BODY_LIMIT_BYTES. Every ping counts as a run of the schedule's workflow through monitoring/runs.py, so the
schedule moves on and the missed-run detection sees it: /start opens a run, a success or failure closes the run
the last /start opened, or, with no start, records a run that began and ended at once (with no duration rather
than 0 ms). `?rid=<your id>` pairs a start with its finish when runs of one job overlap.

An unknown token is a 404 and nothing is stored. Each URL is rate-limited (PING_RATE_LIMIT, counted in the cache
by lib/ratelimit.py, so every web process shares the budget): past it, 429 with Retry-After, nothing stored.
"""

import re
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from lib.client import client_ip
from lib.ratelimit import hit, parse_rate, seconds_to_next_window
from lib.urls import absolute_url

from .models import PingKind, RunStatus, SchedulePing, WorkflowExecution, WorkflowSchedule
from .runs import RunConflict, finish_run, start_run

# The newest pings of each schedule are kept for its page; older ones go as new ones arrive.
PING_LOG_KEEP = 100
TRIGGERED_BY = "ping URL"
RUN_ID_PREFIX = "ping-"
_RID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# --- the URLs a schedule shows -------------------------------------------------------------------------------------


def ping_url(schedule, request=None, kind: str = "") -> str:
    """The absolute ping URL of a schedule (SITE_URL, else the request's host); kind "start" or "fail" for those."""
    name = {"": "ping:success", "start": "ping:start", "fail": "ping:fail"}[kind]
    return absolute_url(reverse(name, args=[schedule.ping_token]), request)


def cron_line(schedule, request=None) -> str:
    """What goes in a crontab after the job's command: curl fails quietly, gives up after 10 s, retries 5 times."""
    return f"curl -fsS -m 10 --retry 5 -o /dev/null {ping_url(schedule, request)}"


def wrapped_cron_line(schedule, command: str = "/path/to/job.sh", request=None) -> str:
    """The whole crontab line with a start and a failure ping, so the duration is measured and a failure is said."""
    curl = "curl -fsS -m 10 --retry 5 -o /dev/null"
    return (f"{schedule.cron_expression}  {curl} {ping_url(schedule, request, 'start')}; "
            f"{command} && {curl} {ping_url(schedule, request)} || {curl} {ping_url(schedule, request, 'fail')}")


# --- recording a ping ----------------------------------------------------------------------------------------------


def _text(body: bytes) -> tuple[str, bool]:
    limit = settings.PING_BODY_LIMIT_BYTES
    truncated = len(body) > limit
    # PostgreSQL text cannot hold NUL; an undecodable byte becomes U+FFFD rather than failing the ping.
    return body[:limit].decode("utf-8", errors="replace").replace("\x00", ""), truncated


def _open_run(schedule, rid):
    """The run a finishing ping closes: the one its start opened (by rid, or the latest open one)."""
    runs = WorkflowExecution.objects.filter(
        project_id=schedule.project_id, workflow_name=schedule.workflow_name, environment=schedule.environment,
        status=RunStatus.RUNNING, triggered_by=TRIGGERED_BY,
    )
    if rid:
        return runs.filter(run_id=RUN_ID_PREFIX + rid).first()
    return runs.order_by("-started_at", "-id").first()


def _failure_words(text: str, exit_status: int | None) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first:
        return first[:500]
    if exit_status:
        return f"The job exited with status {exit_status} (reported by its ping URL)."
    return "The job reported a failure through its ping URL."


def record_ping(schedule, kind, *, now=None, method="GET", remote_addr=None, user_agent="", body=b"",
                exit_status=None, rid=None):
    """Store one ping and the run it stands for (the write behind the ping URL). Returns the SchedulePing."""
    now = now or timezone.now()
    if exit_status is not None:
        kind = PingKind.FAIL if exit_status else PingKind.SUCCESS
    text, truncated = _text(body)
    project = schedule.project
    run_facts = {"workflow_name": schedule.workflow_name, "environment": schedule.environment,
                 "triggered_by": TRIGGERED_BY}
    with transaction.atomic():
        if kind == PingKind.START:
            run_id = RUN_ID_PREFIX + (rid or secrets.token_hex(8))
            execution, _ = start_run(project, run_id=run_id, started_at=now, **run_facts)
        else:
            execution = _open_run(schedule, rid)
            timed = execution is not None  # without a start ping there is nothing to measure
            if execution is None:
                run_id = RUN_ID_PREFIX + (rid or secrets.token_hex(8))
                execution, _ = start_run(project, run_id=run_id, started_at=now, **run_facts)
            failed = kind == PingKind.FAIL
            execution = finish_run(
                project, execution.run_id, status=RunStatus.FAILED if failed else RunStatus.SUCCESS,
                completed_at=max(now, execution.started_at),
                error_message=_failure_words(text, exit_status) if failed else None,
                error_stack=(text or None) if failed else None, timed=timed,
            )
        ping = SchedulePing.objects.create(
            schedule=schedule, kind=kind, received_at=now, method=method[:8], remote_addr=remote_addr,
            user_agent=user_agent[:200], exit_status=exit_status, body=text, body_truncated=truncated,
            execution=execution,
        )
        stale = list(SchedulePing.objects.filter(schedule=schedule).order_by("-id")
                     .values_list("id", flat=True)[PING_LOG_KEEP:PING_LOG_KEEP + 1])
        if stale:
            SchedulePing.objects.filter(schedule=schedule, id__lte=stale[0]).delete()
    return ping


def rotate_ping_token(schedule):
    """A new secret for the schedule's ping URL (the write behind "New ping URL"); the old URL stops working."""
    schedule.ping_token = uuid.uuid4()
    schedule.save(update_fields=["ping_token", "updated_at"])
    return schedule


# --- the view --------------------------------------------------------------------------------------------------------


def _plain(text: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Ping-Body-Limit"] = str(settings.PING_BODY_LIMIT_BYTES)
    return response


@csrf_exempt  # called by cron jobs, which carry no session and no CSRF token; the secret is the token itself
@login_not_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def ping(request, token, kind=PingKind.SUCCESS, exit_status=None):
    schedule = WorkflowSchedule.objects.select_related("project").filter(ping_token=token).first()
    if schedule is None:
        return _plain("Not found: no schedule has this ping URL.", 404)
    if exit_status is not None and exit_status > 255:
        return _plain("An exit status is 0–255.", 400)
    rid = request.GET.get("rid") or None
    if rid is not None and not _RID.match(rid):
        return _plain("rid is 1–64 letters, digits, '_', '.', ':' or '-'.", 400)
    limit, period = parse_rate(settings.PING_RATE_LIMIT)
    if not hit("ping", token.hex, limit=limit, period=period):
        response = _plain(f"Too many pings to this URL: at most {settings.PING_RATE_LIMIT}. Nothing was recorded.", 429)
        response["Retry-After"] = str(int(seconds_to_next_window(period)))
        return response
    # Read at most one byte past the limit from the stream: a large body never sits in memory.
    body = request.read(settings.PING_BODY_LIMIT_BYTES + 1) if request.method == "POST" else b""
    try:
        record_ping(schedule, kind, method=request.method, remote_addr=client_ip(request),
                    user_agent=request.headers.get("User-Agent", ""), body=body, exit_status=exit_status, rid=rid)
    except RunConflict as exc:
        return _plain(str(exc), 409)
    return _plain("OK")


app_name = "ping"
urlpatterns = [
    path("<uuid:token>", ping, name="success"),
    path("<uuid:token>/", ping),
    path("<uuid:token>/start", ping, {"kind": PingKind.START}, name="start"),
    path("<uuid:token>/fail", ping, {"kind": PingKind.FAIL}, name="fail"),
    path("<uuid:token>/<int:exit_status>", ping, name="exit_status"),
]
