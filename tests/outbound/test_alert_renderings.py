"""One notification, rendered once for every channel: the e-mail (sentence as subject, text and HTML, the
List-Unsubscribe headers on a real one-click URL), the Slack payload (blocks) and the webhook JSON (the sentence
beside the machine codes). Sent for real: e-mail to the locmem outbox, Slack and webhook to receivers on 127.0.0.1."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from events.ingest import ingest_events, validate_event
from events.tracking import track_activity
from monitoring import anomalies
from monitoring.daemon import Monitor
from monitoring.models import (
    AnomalyKind,
    HealthCheck,
    ReportType,
    RunStatus,
    WorkflowAnomaly,
    WorkflowExecution,
    WorkflowSchedule,
)
from monitoring.reports import build_report
from monitoring.runs import finish_run, start_run
from notifications import sending
from notifications.models import Channel, Delivery, Level, Preference, Source, Subscription
from outbound import engine
from processes import jobs
from projects.audit import Actor, acting_as
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

SITE = "https://activity.example.com"
SENTENCE = "Auto-fix failed on session apr-w3 in Acme API, 4 min after it started"


@pytest.fixture
def failed_fix(project, editor, settings):
    settings.SITE_URL = SITE
    [(event, _)] = ingest_events(project, [validate_event(
        event_type="AUTO_FIX_FAILED", title="Auto-fix of the flaky login test failed", entity_type="apr_session",
        entity_id="apr-w3", status="FAILED", duration=4 * 60 * 1000 + 7000,
        description="The generated patch did not pass the test suite.")], user=editor)
    return event


def send_to_everyone(project, event, viewer, slack_url, hook_url):
    Preference.objects.create(user=viewer, project=project, level=Level.FAILURES)
    Subscription.objects.create(project=project, name="Team channel", channel=Channel.SLACK, target_url=slack_url)
    Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK, target_url=hook_url,
                                secret="whsec_test")
    return sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])


def test_one_alert_reads_as_a_sentence_in_email_slack_and_webhook(project, viewer, failed_fix):
    with Receiver([200]) as slack, Receiver([200]) as hook:
        assert send_to_everyone(project, failed_fix, viewer, slack.url, hook.url) == 3
    event_url = f"{SITE}/projects/acme-api/activity/{failed_fix.pk}/"

    [email] = mail.outbox
    assert email.to == [viewer.email] and email.subject == SENTENCE
    assert email.body.startswith(SENTENCE + ".\nAuto-fix of the flaky login test failed\n")
    assert "By eddie." in email.body and f"Open it: {event_url}" in email.body
    assert f"Manage your notifications: {SITE}/notifications/" in email.body
    unsubscribe = email.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{SITE}/notifications/unsubscribe/") and unsubscribe.endswith("/>")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert isinstance(email, mail.EmailMultiAlternatives)
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and isinstance(html, str) and f'<a href="{event_url}">{SENTENCE}</a>' in html

    slack_body = json.loads(slack.requests[0]["body"])
    headline, details, context = slack_body["blocks"]
    assert headline == {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{event_url}|{SENTENCE}>*"}}
    assert "The generated patch did not pass the test suite." in details["text"]["text"]
    assert context["elements"][0]["text"].startswith("By eddie · <https://activity.example.com/projects/acme-api/")
    assert slack_body["text"] == SENTENCE  # the phone notification's one line

    envelope = json.loads(hook.requests[0]["body"])
    assert envelope["subject"] == SENTENCE and envelope["type"] == "activity.failed"
    assert envelope["data"]["event"]["event_type"] == "AUTO_FIX_FAILED"  # the codes beside the words
    assert envelope["data"]["event"]["status"] == "FAILED" and envelope["data"]["actor"] == "eddie"
    assert envelope["links"]["event"] == event_url
    assert envelope["links"]["manage"].startswith(f"{SITE}/projects/acme-api/settings/notifications/")
    print("\n--- e-mail ---")  # shown with `pytest -rP`: the three renderings side by side
    print("\n".join(f"{k}: {v}" for k, v in [("Subject", email.subject), *email.extra_headers.items()]))
    print(email.body)
    print("\n--- Slack ---")
    print(json.dumps(slack_body, indent=2, ensure_ascii=False))
    print("\n--- webhook ---")
    print(json.dumps(envelope, indent=2, ensure_ascii=False))


def test_the_unsubscribe_link_asks_then_stops_the_members_emails_in_one_click(project, viewer, failed_fix):
    with Receiver([200]) as slack, Receiver([200]) as hook:
        send_to_everyone(project, failed_fix, viewer, slack.url, hook.url)
    path = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>").removeprefix(SITE)
    anonymous = Client(enforce_csrf_checks=True)  # a mail client: not signed in, no CSRF token
    asked = anonymous.get(path)
    assert asked.status_code == 200 and "Stop notification e-mails from Acme API?" in asked.content.decode()
    assert Preference.objects.get(user=viewer).level == Level.FAILURES  # a GET (a link preview) changes nothing
    done = anonymous.post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed from Acme API" in done.content.decode()
    assert Preference.objects.get(user=viewer).level == Level.OFF
    assert Delivery.objects.filter(destination=f"member:{viewer.pk}").count() == 1


def test_a_forged_unsubscribe_link_is_a_404_and_changes_nothing(project, viewer):
    Preference.objects.create(user=viewer, project=project, level=Level.EVERYTHING)
    assert Client().post("/notifications/unsubscribe/forged-token/").status_code == 404
    assert Preference.objects.get(user=viewer).level == Level.EVERYTHING


# --- monitoring's own alerts: every kind, in every channel ---------------------------------------------------------
# Each alert is raised by the code that raises it in production (the daemon's steps, the report builder, the audit
# job) and sent for real: e-mail to the locmem outbox, Slack and the webhook to receivers on 127.0.0.1.

MANAGE = f"{SITE}/monitoring/notifications/#alert-channels"
# What no alert may show a person: raw codes, Python's None, the old "[production]" tags, template syntax.
NEVER_SHOWN = ("None", "APR_FAILED", "(failed)", "FAILED", "SUCCESS", "RUNNING", "workflow_failed", "schedule_missed",
               "check_down", "anomaly", "[production]", "{{", "{%", "T00:", "+00:00")


def utc(year, month, day, hour=0, minute=0, second=0):
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def alert_channels(settings):
    settings.SITE_URL = SITE
    settings.DELIVERY_ALERT_RETRY_BASE_SECONDS = 0
    with Receiver([200]) as slack, Receiver([200]) as hook:
        settings.MONITORING_NOTIFICATIONS = [{"channel": "slack", "target": slack.url},
                                             {"channel": "webhook", "target": hook.url},
                                             {"channel": "email", "target": "oncall@example.com"}]
        yield slack, hook


def monitor(clock=None):
    return Monitor(workers=1, daily_reports=False, clock=(lambda: clock) if clock else timezone.now)


def rendered(channels, kind, *, now=None):
    """Send what is due; the alert of this kind as the e-mail, the Slack payload and the webhook envelope."""
    engine.send_due(now=now)
    slack, hook = channels
    [envelope] = [json.loads(r["body"]) for r in hook.requests if json.loads(r["body"])["type"] == kind]
    [email] = [m for m in mail.outbox if m.extra_headers["X-ActivityHub-Event"] == kind]
    [slack_body] = [json.loads(r["body"]) for r in slack.requests if json.loads(r["body"])["text"] == envelope["subject"]]
    return email, slack_body, envelope


def assert_reads_well(channels, kind, sentence, link, *, now=None, must_say=(), clock_words=()):
    """The one alert in all three channels: the sentence, the link to the thing and to where alerts go, and none
    of what a person must not read. Returns the three renderings."""
    email, slack_body, envelope = rendered(channels, kind, now=now)
    assert link.startswith(f"{SITE}/")
    # E-mail: the sentence as subject, the text and an HTML alternative, List-Unsubscribe to where alerts go.
    assert email.to == ["oncall@example.com"] and email.subject == sentence
    assert email.body.startswith(f"{sentence}.\n")
    assert f"\n\nOpen it: {link}\nManage your notifications: {MANAGE}" in email.body
    assert email.extra_headers["List-Unsubscribe"] == f"<{MANAGE}>"
    assert "List-Unsubscribe-Post" not in email.extra_headers  # the page manages; it does not unsubscribe in one click
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and f'<a href="{link}">{escape(sentence)}</a>' in str(html)
    assert f'<a href="{MANAGE}">Manage your notifications</a>' in str(html)
    # Slack: the sentence is the notification line and the linked headline; the context links to where alerts go.
    assert slack_body["text"] == sentence
    headline, *rest = slack_body["blocks"]
    assert headline["text"]["text"] == f"*<{link}|{sentence.replace('&', '&amp;')}>*"
    assert rest[-1]["type"] == "context" and f"<{MANAGE}|Manage notifications>" in rest[-1]["elements"][0]["text"]
    # Webhook: the sentence and the links beside the machine codes.
    assert envelope["type"] == kind and envelope["subject"] == sentence and envelope["text"] == email.body
    assert envelope["links"] == {"event": link, "manage": MANAGE}
    words = "\n".join([email.subject, email.body, str(html), json.dumps(slack_body["blocks"], ensure_ascii=False)])
    for said in must_say:
        assert said in email.body and said in json.dumps(slack_body["blocks"], ensure_ascii=False)
    for absent in NEVER_SHOWN:
        assert absent not in words.replace(link, "").replace(MANAGE, ""), f"{absent!r} in the {kind} alert"
    for clock in clock_words:  # the schedule's own clock, never UTC alone
        assert clock in sentence
    return email, slack_body, envelope


@pytest.fixture
def berlin_nightly(project):
    with time_machine.travel(utc(2026, 3, 28, 12, 0), tick=False):
        return WorkflowSchedule.objects.create(project=project, workflow_name="nightly export",
                                               cron_expression="30 2 * * *", timezone="Europe/Berlin",
                                               grace_period_seconds=300)


def test_a_failed_run_reads_on_its_schedules_clock_in_every_channel(project, berlin_nightly, alert_channels):
    with time_machine.travel(utc(2026, 3, 30, 0, 32)):
        start_run(project, run_id="n-30", workflow_name="nightly export", started_at=utc(2026, 3, 30, 0, 27),
                  triggered_by="ci-bot")
        finish_run(project, "n-30", status=RunStatus.FAILED, completed_at=utc(2026, 3, 30, 0, 31, 7),
                   error_message="disk full", tests_passed=41, tests_failed=1, tests_total=42)
        assert monitor().evaluate_finished_runs() == 1
        run = WorkflowExecution.objects.get(run_id="n-30")
        sentence = ("The nightly export workflow in Acme API (production) failed at Mon 2026-03-30 02:31 CEST "
                    "(00:31 UTC), 4 min after it started")
        email, slack_body, envelope = assert_reads_well(
            alert_channels, "workflow_failed", sentence, f"{SITE}/monitoring/runs/{run.pk}/",
            must_say=["Error: disk full", "Tests: 41 passed, 1 failed of 42.", "Run n-30."], clock_words=["CEST"])
    assert "By ci-bot." in email.body and slack_body["blocks"][-1]["elements"][0]["text"].startswith("By ci-bot · ")
    # The codes the webhook always carried, with the actor and the project beside them.
    assert envelope["data"] == {"workflow_name": "nightly export", "run_id": "n-30", "environment": "production",
                                "status": "FAILED", "project": {"slug": "acme-api", "name": "Acme API"},
                                "actor": "ci-bot"}
    assert envelope["id"] == f"run:{run.pk}:failed"


def test_a_run_without_a_schedule_error_or_tests_says_so_in_utc(project, alert_channels):
    with time_machine.travel(utc(2026, 3, 30, 9, 0)):
        start_run(project, run_id="b-1", workflow_name="billing", started_at=utc(2026, 3, 30, 8, 50))
        finish_run(project, "b-1", status=RunStatus.FAILED, completed_at=utc(2026, 3, 30, 8, 50, 40))
        monitor().evaluate_finished_runs()
        run = WorkflowExecution.objects.get(run_id="b-1")
        email, *_ = assert_reads_well(
            alert_channels, "workflow_failed",
            "The billing workflow in Acme API (production) failed at Mon 2026-03-30 08:50 UTC, 40 s after it started",
            f"{SITE}/monitoring/runs/{run.pk}/", must_say=["It reported no error message."])
    assert "Tests:" not in email.body and "By " not in email.body


def test_a_recovery_counts_the_failures_it_ends(project, berlin_nightly, alert_channels):
    with time_machine.travel(utc(2026, 4, 1, 0, 40)):
        for day, status in ((29, RunStatus.SUCCESS), (30, RunStatus.FAILED), (31, RunStatus.FAILED)):
            start_run(project, run_id=f"n-{day}", workflow_name="nightly export", started_at=utc(2026, 3, day, 0, 30))
            finish_run(project, f"n-{day}", status=status, completed_at=utc(2026, 3, day, 0, 33))
        start_run(project, run_id="n-01", workflow_name="nightly export", started_at=utc(2026, 4, 1, 0, 30))
        finish_run(project, "n-01", status=RunStatus.SUCCESS, completed_at=utc(2026, 4, 1, 0, 33, 30))
        monitor().evaluate_finished_runs()
        run = WorkflowExecution.objects.get(run_id="n-01")
        assert_reads_well(alert_channels, "workflow_recovered",
                          "The nightly export workflow in Acme API (production) succeeded again at Wed 2026-04-01 "
                          "02:33 CEST (00:33 UTC), after 2 failed runs", f"{SITE}/monitoring/runs/{run.pk}/",
                          must_say=["Run n-01 took 3 m 30 s."], clock_words=["CEST"])


def test_a_missed_run_and_its_return_read_on_the_schedules_clock(project, berlin_nightly, alert_channels):
    link = f"{SITE}/monitoring/schedules/{berlin_nightly.schedule_id}/"
    with time_machine.travel(utc(2026, 3, 29, 1, 36), tick=False):
        assert monitor(utc(2026, 3, 29, 1, 36)).detect_missed_schedules() == 1
        _, _, envelope = assert_reads_well(
            alert_channels, "schedule_missed",
            "The nightly export workflow in Acme API (production) did not start at Sun 2026-03-29 03:30 CEST "
            "(01:30 UTC), when its schedule expected it", link,
            must_say=["Its schedule “30 2 * * *” in Europe/Berlin expects it then, and nothing started within the "
                      "5 minutes grace period.", "Next expected: Mon 2026-03-30 02:30 CEST (00:30 UTC)."],
            clock_words=["CEST"])
    assert envelope["data"]["expected_at"] == "2026-03-29T01:30:00+00:00"  # the codes stay machine-readable
    assert envelope["data"]["cron_expression"] == "30 2 * * *" and envelope["data"]["url"] == link
    with time_machine.travel(utc(2026, 3, 30, 0, 31), tick=False):
        start_run(project, run_id="n-30", workflow_name="nightly export", started_at=utc(2026, 3, 30, 0, 31))
    with time_machine.travel(utc(2026, 3, 30, 0, 32), tick=False):
        assert monitor(utc(2026, 3, 30, 0, 32)).announce_schedule_recoveries() == 1
        assert_reads_well(alert_channels, "schedule_recovered",
                          "The nightly export workflow in Acme API (production) is back on time: a run started at "
                          "Mon 2026-03-30 02:31 CEST (00:31 UTC)", link,
                          must_say=["Next expected: Tue 2026-03-31 02:30 CEST (00:30 UTC)."], clock_words=["CEST"])


def test_a_health_check_going_down_and_coming_back(project, alert_channels):
    with Receiver([503, 200]) as service:
        check = HealthCheck.objects.create(project=project, check_id="api", check_name="Public API", url=service.url,
                                           due_at=timezone.now())
        link = f"{SITE}/monitoring/health/{check.pk}/"
        monitor().run_due_checks()
        _, _, down = assert_reads_well(alert_channels, "check_down",
                                       "The health check “Public API” in Acme API (production) is down: expected "
                                       "HTTP 200, got 503", link, must_say=[f"GET {service.url} at "])
        assert down["data"] == {"check_id": "api", "url": service.url, "environment": "production",
                                "actual_status": 503, "project": {"slug": "acme-api", "name": "Acme API"}}
        HealthCheck.objects.update(due_at=timezone.now())
        monitor().run_due_checks()
        _, slack_body, _ = rendered(alert_channels, "check_recovered")
    assert slack_body["text"].startswith("The health check “Public API” in Acme API (production) is up again: it "
                                         "answers 200 in ") and slack_body["text"].endswith(" ms")
    assert_reads_well(alert_channels, "check_recovered", slack_body["text"], link)


def test_unusual_behaviour_and_its_end(project, alert_channels):
    at = utc(2026, 3, 30, 2, 45)
    with time_machine.travel(at):
        start_run(project, run_id="b-7", workflow_name="backup", started_at=utc(2026, 3, 30, 2, 0))
        run = finish_run(project, "b-7", status=RunStatus.SUCCESS, completed_at=utc(2026, 3, 30, 2, 41))
        key = (project.pk, "backup", "production", AnomalyKind.DURATION)
        reason = "took 41 m 00 s, usually 11 m 18 s–12 m 49 s (middle 80 % of 27 earlier runs)"
        assert anomalies._open(key, anomalies.Verdict(True, 9.0, reason, 41 * 60_000), run, at) == 1
        link = f"{SITE}/monitoring/runs/{run.pk}/"
        _, _, envelope = assert_reads_well(
            alert_channels, "anomaly", f"Unusual duration of the backup workflow in Acme API (production): a run {reason}",
            link, must_say=["Found at Mon 2026-03-30 02:45 UTC."])
        assert envelope["data"]["kind"] == "duration" and envelope["data"]["reason"] == reason
        finding = WorkflowAnomaly.objects.get()
        back = "took 12 m 05 s, usually 11 m 18 s–12 m 49 s (middle 80 % of 28 earlier runs)"
        assert anomalies._clear(finding, anomalies.Verdict(False, 0.2, back, 12 * 60_000), at) == 1
        assert_reads_well(alert_channels, "anomaly_cleared",
                          f"The unusual duration of the backup workflow in Acme API (production) is over: a run {back}",
                          link)


def test_a_daily_report_says_how_many_runs_it_rests_on(project, alert_channels):
    with time_machine.travel(utc(2026, 3, 31, 0, 5)):
        for n, status in enumerate([RunStatus.SUCCESS] * 3 + [RunStatus.FAILED]):
            start_run(project, run_id=f"r-{n}", workflow_name="nightly", started_at=utc(2026, 3, 30, 1 + n))
            finish_run(project, f"r-{n}", status=status, completed_at=utc(2026, 3, 30, 1 + n, 2))
        report = build_report(utc(2026, 3, 30), utc(2026, 3, 31), ReportType.DAILY)
        _, _, envelope = assert_reads_well(
            alert_channels, "report",
            "The daily monitoring report (all environments) is ready: 75% of 4 finished runs succeeded",
            f"{SITE}/monitoring/reports/{report.report_id}/",
            must_say=["From Mon 2026-03-30 00:00 UTC to Tue 2026-03-31 00:00 UTC: 4 runs, 3 succeeded, 1 failed, "
                      "average 2 m 00 s."])
    assert envelope["data"] == {"report_id": report.report_id, "success_rate": 75.0, "environment": "all"}


def test_a_hand_edited_audit_trail_alerts_with_a_link_to_the_audit_log(project, owner, alert_channels):
    with acting_as(Actor.for_user(owner)):
        first = track_activity(project=project, action_type="deployment", action_details="Deploy 1")
        track_activity(project=project, action_type="deployment", action_details="Deploy 2")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE project_actions SET action_details = 'x' WHERE action_id = %s", [first.action_id])
    jobs.verify_audit.call()
    _, _, envelope = assert_reads_well(alert_channels, "audit_tampered",
                                       "Audit trail of project acme-api was changed by hand",
                                       f"{SITE}/projects/acme-api/audit/",
                                       must_say=["Run `manage.py verify_audit` to see it"])
    assert envelope["data"]["chain"] == project.pk and envelope["data"]["action_id"] == first.action_id
