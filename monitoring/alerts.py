"""What monitoring's alerts say: each alert is a Notice (outbound.rendering), so the e-mail (text, HTML,
List-Unsubscribe), the Slack blocks and the webhook JSON come from the one renderer.

    run_failed(execution)                          # "The nightly workflow in Acme API (production) failed at …"
    run_recovered(execution)
    schedule_missed(schedule, missed_at, following)
    schedule_recovered(schedule, now)
    check_down(check, result, checked_at) / check_recovered(check, result, checked_at)
    anomaly_opened(finding) / anomaly_cleared(finding, reason)
    report_ready(report)
    audit_tampered(chain, slug, problem)

A sentence a manager would write, with times on the schedule's clock and in UTC (monitoring.cron.FireTime) and
durations as notifications say them (projects.durations.about); the link to the run, schedule, check or report
and the link to where the alerts' channels are managed are absolute (SITE_URL). The machine codes the webhook has
always carried stay in `data`, with the project beside them.
"""

from django.urls import reverse

from lib.urls import absolute_url
from outbound.rendering import Notice
from projects.durations import about, format_duration

from .cron import fire_time
from .models import AnomalyKind, NotificationType, ReportType, RunStatus, WorkflowExecution, WorkflowSchedule

UTC_CLOCK = "UTC"


def manage_url() -> str:
    """Where the on-call reader sees where alerts go and how to change it (the monitoring notifications page)."""
    return absolute_url(reverse("monitoring:notifications")) + "#alert-channels"


def notice(kind, sentence, *, details=(), url="", data=None, actor="") -> Notice:
    """An alert's Notice; enqueue gives it its delivery id (the alert's dedupe key)."""
    return Notice(event_type=kind, sentence=sentence, delivery_id="", details=tuple(d for d in details if d),
                  actor=actor or "", event_url=url, manage_url=manage_url(),
                  data=dict(data or {}))


def plain(kind, subject, message="", payload=None) -> Notice:
    """An alert given as a subject and a message (the older enqueue call): the subject is the sentence."""
    return notice(kind, subject.rstrip("."), details=[line for line in (message or "").splitlines() if line],
                  data=payload)


def _where(project, environment) -> str:
    """"in Acme API (production)", or "(production)" for what belongs to no project."""
    return f"in {project.name} ({environment})" if project is not None else f"({environment})"


def _project_ref(project) -> dict:
    return {"project": {"slug": project.slug, "name": project.name}} if project is not None else {}


def _clock_of_run(execution) -> str:
    """The time zone a run is read in: its schedule's, else UTC."""
    return WorkflowSchedule.objects.for_run(execution).values_list("timezone", flat=True).first() or UTC_CLOCK


def at(moment, tz_name=UTC_CLOCK) -> str:
    """'Mon 2026-03-30 02:31 CEST (00:31 UTC)': the one way a moment reads in an alert."""
    return fire_time(moment, tz_name).words()


def _grace(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


# --- runs ------------------------------------------------------------------------------------------------------


def run_url(execution) -> str:
    return absolute_url(reverse("monitoring:run_detail", args=[execution.pk]))


def _run_data(execution) -> dict:
    return {"workflow_name": execution.workflow_name, "run_id": execution.run_id,
            "environment": execution.environment, "status": execution.status, **_project_ref(execution.project)}


def _tests_line(execution) -> str:
    if execution.tests_total is None:
        return ""
    return (f"Tests: {execution.tests_passed or 0} passed, {execution.tests_failed or 0} failed of "
            f"{execution.tests_total}.")


def run_failed(execution) -> Notice:
    """'The nightly workflow in Acme API (production) failed at Mon … CEST (… UTC), 4 min after it started'."""
    sentence = f"The {execution.workflow_name} workflow {_where(execution.project, execution.environment)} failed"
    if execution.completed_at is not None:
        sentence += f" at {at(execution.completed_at, _clock_of_run(execution))}"
    if execution.duration_ms is not None:
        sentence += f", {about(execution.duration_ms)} after it started"
    details = [f"Error: {execution.error_message}" if execution.error_message else "It reported no error message.",
               _tests_line(execution), f"Run {execution.run_id}.",
               "Later failures stay quiet; you get one message when it succeeds again."]
    return notice(NotificationType.WORKFLOW_FAILED, sentence, details=details, url=run_url(execution),
                  data=_run_data(execution), actor=execution.triggered_by)


def run_recovered(execution) -> Notice:
    """'The nightly workflow in Acme API (production) succeeded again at …, after 3 failed runs'."""
    failed = _failures_before(execution)
    sentence = f"The {execution.workflow_name} workflow {_where(execution.project, execution.environment)} succeeded again"
    if execution.completed_at is not None:
        sentence += f" at {at(execution.completed_at, _clock_of_run(execution))}"
    if failed:
        sentence += f", after {failed} failed run{'s' if failed != 1 else ''}"
    took = f" took {format_duration(execution.duration_ms)}" if execution.duration_ms is not None else " succeeded"
    return notice(NotificationType.WORKFLOW_RECOVERED, sentence, details=[f"Run {execution.run_id}{took}."],
                  url=run_url(execution), data=_run_data(execution), actor=execution.triggered_by)


def _failures_before(execution) -> int:
    """The failed runs in a row just before this one (since the last success)."""
    same = WorkflowExecution.objects.filter(project_id=execution.project_id, workflow_name=execution.workflow_name,
                                            environment=execution.environment, started_at__lt=execution.started_at)
    last_success = (same.filter(status=RunStatus.SUCCESS).order_by("-started_at")
                    .values_list("started_at", flat=True).first())
    failures = same.filter(status=RunStatus.FAILED)
    if last_success is not None:
        failures = failures.filter(started_at__gt=last_success)
    return failures.count()


# --- schedules -------------------------------------------------------------------------------------------------


def schedule_url(schedule) -> str:
    return absolute_url(reverse("monitoring:schedule_detail", args=[schedule.schedule_id]))


def _schedule_data(schedule, **facts) -> dict:
    return {"schedule_id": schedule.schedule_id, "workflow_name": schedule.workflow_name,
            "environment": schedule.environment, "cron_expression": schedule.cron_expression,
            "timezone": schedule.timezone, "url": schedule_url(schedule), **_project_ref(schedule.project), **facts}


def schedule_missed(schedule, missed_at, following) -> Notice:
    """'The nightly workflow in Acme API (production) did not start at Sun … CEST (… UTC), when its schedule
    expected it'; the details say the schedule, the grace period and the next expected run."""
    clock = schedule.on_its_clock
    sentence = (f"The {schedule.workflow_name} workflow {_where(schedule.project, schedule.environment)} did not "
                f"start at {clock(missed_at).words()}, when its schedule expected it")
    details = [f"Its schedule “{schedule.cron_expression}” in {schedule.timezone} expects it then, and nothing "
               f"started within the {_grace(schedule.grace_period_seconds)} grace period.",
               f"Next expected: {clock(following).words()}.", "You get one message when it runs again."]
    return notice(NotificationType.SCHEDULE_MISSED, sentence, details=details, url=schedule_url(schedule),
                  data=_schedule_data(schedule, expected_at=missed_at.isoformat(),
                                      next_expected_at=following.isoformat()))


def schedule_recovered(schedule, now) -> Notice:
    """'The nightly workflow in Acme API (production) is back on time: a run started at …'."""
    clock = schedule.on_its_clock
    sentence = (f"The {schedule.workflow_name} workflow {_where(schedule.project, schedule.environment)} is back on "
                f"time: a run started at {clock(schedule.last_run_at).words()}")
    following = schedule.next_run_at
    if following is None:
        detail = "The schedule is paused, so no next run is expected."
    elif following > now:
        detail = f"Next expected: {clock(following).words()}."
    else:  # due right now, inside its grace period
        detail = (f"Its next run is due now ({clock(following).words()}, "
                  f"{_grace(schedule.grace_period_seconds)} grace).")
    return notice(NotificationType.SCHEDULE_RECOVERED, sentence, details=[detail], url=schedule_url(schedule),
                  data=_schedule_data(schedule, last_run_at=schedule.last_run_at.isoformat(),
                                      next_expected_at=following.isoformat() if following else None))


# --- health checks ---------------------------------------------------------------------------------------------


def check_url(check) -> str:
    return absolute_url(reverse("monitoring:health_detail", args=[check.pk]))


def _check_data(check, result) -> dict:
    return {"check_id": check.check_id, "url": check.url, "environment": check.environment,
            "actual_status": result.actual_status, **_project_ref(check.project)}


def check_down(check, result, checked_at) -> Notice:
    """'The health check “API” (production) is down: expected HTTP 200, got 503'."""
    why = result.error or (f"it answered {result.actual_status}" if result.actual_status else "it did not answer")
    sentence = f"The health check “{check.check_name}” {_where(check.project, check.environment)} is down: {why}"
    details = [f"{check.method} {check.url} at {at(checked_at)}.", "You get one message when it answers again."]
    return notice(NotificationType.CHECK_DOWN, sentence, details=details, url=check_url(check),
                  data=_check_data(check, result))


def check_recovered(check, result, checked_at) -> Notice:
    """'The health check “API” (production) is up again: it answers 200 in 45 ms'."""
    sentence = (f"The health check “{check.check_name}” {_where(check.project, check.environment)} is up again: it "
                f"answers {result.actual_status} in {result.response_time_ms} ms")
    details = [f"{check.method} {check.url} at {at(checked_at)}."]
    return notice(NotificationType.CHECK_RECOVERED, sentence, details=details, url=check_url(check),
                  data=_check_data(check, result))


# --- unusual behaviour -----------------------------------------------------------------------------------------

# How each kind of finding opens its sentence: "Unusual duration of the backup workflow in Acme API (production):
# a run took 41 m 00 s, usually 11 m–12 m (…)".
ANOMALY_OPENING = {AnomalyKind.DURATION: ("Unusual duration of", "a run "),
                   AnomalyKind.FAILURE_RATE: ("Failure-rate spike in", ""),
                   AnomalyKind.VOLUME: ("Unusual number of runs of", "")}


def _anomaly_url(finding) -> str:
    run_pk = finding.execution_id or (
        WorkflowExecution.objects.filter(project_id=finding.project_id, workflow_name=finding.workflow_name,
                                         environment=finding.environment)
        .order_by("-started_at").values_list("pk", flat=True).first())
    path = reverse("monitoring:run_detail", args=[run_pk]) if run_pk else reverse("monitoring:overview")
    return absolute_url(path)


def _anomaly_data(finding, **facts) -> dict:
    return {"workflow_name": finding.workflow_name, "environment": finding.environment, "kind": finding.kind,
            **_project_ref(finding.project), **facts}


def anomaly_opened(finding) -> Notice:
    opening, subject = ANOMALY_OPENING.get(finding.kind, (f"{finding.get_kind_display()} of", ""))
    sentence = (f"{opening} the {finding.workflow_name} workflow {_where(finding.project, finding.environment)}: "
                f"{subject}{finding.reason}")
    details = [f"Found at {at(finding.opened_at)}.", "You get one message when it is back to normal."]
    return notice(NotificationType.ANOMALY, sentence, details=details, url=_anomaly_url(finding),
                  data=_anomaly_data(finding, reason=finding.reason))


def anomaly_cleared(finding, reason) -> Notice:
    """'The unusual duration of the backup workflow in Acme API (production) is over: a run took 12 m 00 s, …'."""
    _opening, subject = ANOMALY_OPENING.get(finding.kind, ("", ""))
    label = finding.get_kind_display()
    label = label[0].lower() + label[1:]
    of = "in" if finding.kind == AnomalyKind.FAILURE_RATE else "of"
    because = f"{subject}{reason}" if reason else "there are no recent runs to judge"
    sentence = (f"The {label} {of} the {finding.workflow_name} workflow "
                f"{_where(finding.project, finding.environment)} is over: {because}")
    details = [f"Found at {at(finding.opened_at)}, back to normal at {at(finding.cleared_at)}."
               if finding.cleared_at else f"Found at {at(finding.opened_at)}."]
    return notice(NotificationType.ANOMALY_CLEARED, sentence, details=details, url=_anomaly_url(finding),
                  data=_anomaly_data(finding))


# --- reports and the audit trail --------------------------------------------------------------------------------


def report_ready(report) -> Notice:
    """'The daily monitoring report (all environments) is ready: 95% of 40 finished runs succeeded'."""
    kind = "daily" if report.report_type == ReportType.DAILY else "on-demand"
    scope = report.environment or "all environments"
    finished = report.successful_runs + report.failed_runs
    sentence = f"The {kind} monitoring report ({scope}) is ready: "
    if finished:
        sentence += f"{report.success_rate:g}% of {finished} finished run{'s' if finished != 1 else ''} succeeded"
    else:
        sentence += "no run finished in its window" if report.total_runs else "no run started in its window"
    details = [f"From {at(report.start_time)} to {at(report.end_time)}: {report.total_runs} run"
               f"{'s' if report.total_runs != 1 else ''}, {report.successful_runs} succeeded, "
               f"{report.failed_runs} failed"
               + (f", average {format_duration(report.avg_duration_ms)}." if finished else ".")]
    return notice(NotificationType.REPORT, sentence, details=details,
                  url=absolute_url(reverse("monitoring:report_detail", args=[report.report_id])),
                  data={"report_id": report.report_id, "success_rate": report.success_rate,
                        "environment": report.environment or "all"})


def audit_tampered(chain, where, problem, *, project_slug=None) -> Notice:
    """'Audit trail of project acme-api was changed by hand', with the entry that shows it."""
    url = absolute_url(reverse("events:audit", args=[project_slug])) if project_slug else ""
    details = [problem.sentence, "Run `manage.py verify_audit` to see it; the entry's details are in the audit log."]
    return notice(NotificationType.AUDIT_TAMPERED, f"Audit trail of {where} was changed by hand", details=details,
                  url=url, data={"chain": chain, "kind": problem.kind, "sequence": problem.sequence, "action_id": problem.action_id})
