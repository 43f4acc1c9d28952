"""Audit streaming to a webhook (GitHub's audit log streaming): an owner sets it up on Settings, the scheduler's job
sends new entries in order in signed batches to a real receiver on 127.0.0.1, the watermark moves only on a 2xx,
a failure is retried with the engine's backoff and nothing is skipped or sent twice once a batch is delivered."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

import outbound
from events.models import ProjectAction
from events.tracking import track_activity
from notifications import audit_stream
from outbound import engine
from outbound.models import Delivery, State, Stream
from processes import jobs, scheduling
from projects import actions
from projects.models import AuditStream
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

ROUTES = ("audit_stream_save", "audit_stream_pause", "audit_stream_remove", "audit_stream_ping")


def _stream(project, owner, url):
    stream, _secret = actions.create_audit_stream(project, url, by=owner)
    return stream


def _deploys(project, n, start=1):
    return [track_activity(project=project, action_type="deployment", action_details=f"Deployed {i}")
            for i in range(start, start + n)]


def _batches(receiver):
    return [receiver.json(i) for i in range(len(receiver.requests))]


def _sequences(batch):
    return [entry["sequence"] for entry in batch["data"]["entries"]]


def test_owner_sets_up_a_stream_and_sees_its_secret_once(client_for, owner, project):
    client = client_for(owner)
    answer = client.post(reverse("projects:audit_stream_save", args=[project.slug]),
                         {"url": "http://127.0.0.1:9/audit"})
    assert answer.status_code == 302 and answer["Location"].endswith("/settings/#audit-stream")
    stream = AuditStream.objects.get(project=project)
    first = client.get(reverse("projects:settings", args=[project.slug]))
    page = first.content.decode()
    assert stream.secret.startswith("whsec_") and stream.secret in page and first["Cache-Control"] == "no-store"
    assert "Audit streaming to http://127.0.0.1/… set up" in page and "Send test delivery" in page
    again = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert stream.secret not in again and "Stream signing secret" not in again  # shown once
    [entry] = ProjectAction.objects.filter(action_type="audit_stream_created")
    assert (entry.target_type, entry.target_id, entry.actor_label) == ("audit_stream", str(stream.pk), owner.username)
    assert entry.sequence is not None and stream.sent_sequence == entry.sequence - 1  # the setup entry is the first one streamed
    # The trail names the host only, and never the secret.
    assert entry.changes == {"url": [None, "http://127.0.0.1/…"], "paused": [None, False]}
    assert stream.secret not in json.dumps(list(ProjectAction.objects.values("action_details", "changes")))


def test_new_entries_go_in_order_in_signed_batches_with_their_hashes(owner, project):
    with Receiver([200]) as receiver:
        stream = _stream(project, owner, receiver.url)
        _deploys(project, 3)
        assert audit_stream.stream_due() == {"acme-api": 4}
        [batch] = _batches(receiver)
        headers, body = receiver.requests[0]["headers"], receiver.requests[0]["body"]
        assert outbound.verify_signature(stream.secret, headers["X-ActivityHub-Signature"], body)
        assert batch["type"] == headers["X-ActivityHub-Event"] == "audit.entries"
        entries = batch["data"]["entries"]
        stored = list(ProjectAction.objects.filter(project=project).order_by("sequence"))
        assert [e["action_type"] for e in entries] == ["audit_stream_created", "deployment", "deployment", "deployment"]
        assert [e["sequence"] for e in entries] == [a.sequence for a in stored]
        assert [e["entry_hash"] for e in entries] == [a.entry_hash.hex() for a in stored]
        assert all(e["prev_hash"] == p["entry_hash"] for p, e in zip(entries, entries[1:], strict=False))
        assert (batch["data"]["first_sequence"], batch["data"]["last_sequence"]) == (stored[0].sequence, stored[-1].sequence)
        stream.refresh_from_db()
        assert stream.sent_sequence == stored[-1].sequence and stream.last_delivered_at is not None
        assert audit_stream.stream_due() == {}  # nothing new: nothing sent again
        assert len(receiver.requests) == 1
        _deploys(project, 2, start=4)
        audit_stream.stream_due()
        assert _sequences(_batches(receiver)[1]) == [stream.sent_sequence + 1, stream.sent_sequence + 2]


def test_a_backlog_goes_batch_after_batch_in_one_run(owner, project, monkeypatch):
    monkeypatch.setattr(audit_stream, "BATCH_SIZE", 2)
    with Receiver([200]) as receiver:
        _stream(project, owner, receiver.url)
        _deploys(project, 4)
        assert audit_stream.stream_due() == {"acme-api": 5}
        sent = [_sequences(batch) for batch in _batches(receiver)]
    assert [len(batch) for batch in sent] == [2, 2, 1]
    flat = [s for batch in sent for s in batch]
    assert flat == sorted(set(flat)) == list(range(flat[0], flat[0] + 5))  # in order, none twice, none skipped


def test_a_failed_batch_is_retried_with_backoff_and_only_a_2xx_moves_the_watermark(owner, project):
    with Receiver([500, 200]) as receiver:
        stream = _stream(project, owner, receiver.url)
        start = stream.sent_sequence
        _deploys(project, 2)
        assert audit_stream.stream_due() == {}
        stream.refresh_from_db()
        assert stream.sent_sequence == start  # a 500 moves nothing
        [retry] = Delivery.objects.filter(stream=Stream.AUDIT, state=State.PENDING)
        assert retry.attempt == 2 and retry.next_attempt_at > timezone.now()  # the engine's backoff
        _deploys(project, 1, start=3)
        assert audit_stream.stream_due() == {}  # one batch in flight at a time: the newer entry waits
        assert len(receiver.requests) == 1
        engine.send_due(now=retry.next_attempt_at + timedelta(seconds=1))
        first, again = _batches(receiver)
        assert first.pop("created") <= again.pop("created") and first == again  # the same batch, the same id
        stream.refresh_from_db()
        assert stream.sent_sequence == start + 3
        audit_stream.stream_due()
        assert _sequences(_batches(receiver)[2]) == [start + 4]  # the entry that waited, and nothing again


def test_a_batch_that_gives_up_pauses_the_stream_and_resuming_sends_it_again(owner, project, settings):
    settings.DELIVERY_NOTIFICATION_MAX_ATTEMPTS = 2
    with Receiver([503, 503, 200]) as receiver:
        stream = _stream(project, owner, receiver.url)
        start = stream.sent_sequence
        _deploys(project, 1)
        audit_stream.stream_due()
        engine.send_due(now=timezone.now() + timedelta(days=2))
        stream.refresh_from_db()
        assert stream.paused and "could not be delivered in 2 attempts (HTTP 503)" in stream.paused_reason
        [paused] = ProjectAction.objects.filter(action_type="audit_stream_paused")
        assert (paused.actor_type, paused.actor_label) == ("system", "audit streaming")
        assert audit_stream.stream_due() == {}  # paused: nothing is sent
        actions.set_audit_stream_paused(stream, False)
        audit_stream.stream_due()
        stream.refresh_from_db()
    batches = _batches(receiver)
    assert len(batches) == 3 and _sequences(batches[0]) == _sequences(batches[1])
    # Resuming sent the same entries again, then everything after them (the pause and resume entries too).
    assert _sequences(batches[2])[:2] == _sequences(batches[0])
    assert not stream.paused and stream.sent_sequence == _sequences(batches[2])[-1] > start


def test_a_delivered_batch_is_never_built_again_even_before_its_outcome_hook_ran(owner, project):
    stream = _stream(project, owner, "http://127.0.0.1:9/audit")
    _deploys(project, 2)
    first = audit_stream.start_batch(stream.pk)
    assert first is not None and audit_stream.start_batch(stream.pk) is None  # one batch in flight
    # Another worker's engine recorded the 2xx; its after() has not moved the watermark yet.
    Delivery.objects.filter(pk=first).update(state=State.SUCCEEDED)
    _deploys(project, 1, start=3)
    second_pk = audit_stream.start_batch(stream.pk)
    assert second_pk is not None
    second = Delivery.objects.get(pk=second_pk)
    done = Delivery.objects.get(pk=first)
    assert done.payload["last_sequence"] + 1 == second.payload["first_sequence"] == second.payload["last_sequence"]
    stream.refresh_from_db()
    assert stream.sent_sequence == done.payload["last_sequence"]


def test_the_scheduler_runs_the_stream_job_and_cron_the_command(owner, project):
    assert "stream-audit-webhooks" in {job.name for job in scheduling.registered_jobs()}
    with Receiver([200]) as receiver:
        _stream(project, owner, receiver.url)
        assert jobs.stream_audit_webhooks.call() == {"acme-api": 1}
        out = io.StringIO()
        call_command("stream_audit_webhooks", "--once", stdout=out)
        assert out.getvalue() == "Nothing new delivered.\n"
        _deploys(project, 2)
        call_command("stream_audit_webhooks", "--once", stdout=out)
        assert out.getvalue().endswith("acme-api: 2 entries delivered\n")


def test_test_delivery_is_signed_moves_nothing_and_shows_on_the_page(client_for, owner, project,
                                                                    django_capture_on_commit_callbacks):
    with Receiver([200], body=b'{"pong": true}') as receiver:
        stream = _stream(project, owner, receiver.url)
        client = client_for(owner)
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(reverse("projects:audit_stream_ping", args=[project.slug]))
        assert answer.status_code == 302
        [ping] = Delivery.objects.filter(stream=Stream.AUDIT, source="ping")
        engine.send_now([ping.pk])  # the task the commit enqueued
        [request] = receiver.requests
        body = json.loads(request["body"])
        assert body["type"] == "ping" and body["data"]["entries"] == [] and body["data"]["test"] is True
        assert outbound.verify_signature(stream.secret, request["headers"]["X-ActivityHub-Signature"], request["body"])
        page = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
        assert ping.delivery_id in page and "Test delivery of the audit stream" in page and "pong" in page
    assert AuditStream.objects.get().sent_sequence == stream.sent_sequence
    assert ProjectAction.objects.filter(action_type="audit_stream_test_delivery_sent").count() == 1


def test_each_attempt_has_a_page_for_the_owner_only(client_for, owner, editor, viewer, outsider, project):
    with Receiver([200], body=b'{"pong": true}') as receiver:
        stream = _stream(project, owner, receiver.url)
        ping = actions.send_audit_stream_test(stream, by=owner)
        assert ping is not None
        engine.send_now([ping.pk])
    url = reverse("projects:audit_stream_delivery", args=[project.slug, ping.pk])
    page = client_for(owner).get(url)
    text = page.content.decode()
    assert page.status_code == 200 and "X-ActivityHub-Signature" in text and "&quot;type&quot;: &quot;ping&quot;" in text
    assert "Response <span class=\"mono\">200</span>" in text and "&quot;pong&quot;: true" in text
    assert stream.secret not in text and "Redeliver" not in text
    settings_page = client_for(owner).get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert f'href="{url}"' in settings_page
    assert client_for(editor).get(url).status_code == 403 and client_for(viewer).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    other = Delivery.objects.create(stream=Stream.NOTIFICATION, delivery_key="elsewhere", source="event",
                                    channel="webhook", destination="subscription:1", project_id=project.pk)
    assert client_for(owner).get(reverse("projects:audit_stream_delivery", args=[project.slug, other.pk])).status_code == 404


def test_remove_asks_first_then_removes_and_cancels_what_was_queued(client_for, owner, project):
    stream = _stream(project, owner, "http://127.0.0.1:9/audit")
    queued = audit_stream.start_batch(stream.pk)
    client = client_for(owner)
    url = reverse("projects:audit_stream_remove", args=[project.slug])
    asked = client.post(url)
    assert asked.status_code == 200 and "Remove the stream" in asked.content.decode()
    assert AuditStream.objects.filter(pk=stream.pk).exists()
    assert client.post(url, {"confirm": "1"}).status_code == 302
    assert not AuditStream.objects.exists()
    assert ProjectAction.objects.filter(action_type="audit_stream_removed", target_id=str(stream.pk)).count() == 1
    assert queued is not None
    [row] = engine.send_now([queued])
    assert row.state == State.CANCELLED  # its stream is gone: not sent
    page = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert "Start streaming" in page and "Remove…" not in page


def test_pause_and_resume_are_audited_and_change_the_url_keeps_the_watermark(client_for, owner, project):
    stream = _stream(project, owner, "http://127.0.0.1:9/audit")
    client = client_for(owner)
    settings_url = reverse("projects:settings", args=[project.slug])
    assert "retention still removes" not in client.get(settings_url).content.decode()  # streaming: nothing to warn of
    client.post(reverse("projects:audit_stream_pause", args=[project.slug]), {"paused": "1"})
    paused_page = client.get(settings_url).content.decode()
    assert (f"While it is paused, retention still removes entries older than {project.retention_days} days: "
            "those are never sent") in paused_page
    client.post(reverse("projects:audit_stream_pause", args=[project.slug]), {"paused": "1"})  # already: no entry
    client.post(reverse("projects:audit_stream_pause", args=[project.slug]), {"paused": "0"})
    assert "retention still removes" not in client.get(settings_url).content.decode()
    client.post(reverse("projects:audit_stream_save", args=[project.slug]), {"url": "http://127.0.0.2:9/other"})
    kinds = list(ProjectAction.objects.filter(target_type="audit_stream").order_by("sequence")
                 .values_list("action_type", flat=True))
    assert kinds == ["audit_stream_created", "audit_stream_paused", "audit_stream_resumed", "audit_stream_changed"]
    changed = AuditStream.objects.get()
    assert changed.url == "http://127.0.0.2:9/other" and changed.sent_sequence == stream.sent_sequence
    assert changed.secret == stream.secret and not changed.paused


def test_outsiders_get_404_and_editors_and_viewers_403(client_for, project, owner, editor, viewer, outsider):
    _stream(project, owner, "http://127.0.0.1:9/audit")
    entries = ProjectAction.objects.count()
    for name in ROUTES:
        url = reverse(f"projects:{name}", args=[project.slug])
        data = {"url": "http://127.0.0.1:9/x", "paused": "1", "confirm": "1"}
        assert client_for(outsider).post(url, data).status_code == 404
        assert client_for(viewer).post(url, data).status_code == 403
        assert client_for(editor).post(url, data).status_code == 403
        assert client_for(owner).get(url).status_code == 405
    stream = AuditStream.objects.get()
    assert (stream.url, stream.paused) == ("http://127.0.0.1:9/audit", False)
    assert ProjectAction.objects.count() == entries and not Delivery.objects.exists()
    page = client_for(viewer).get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert "streamed to http://127.0.0.1/…" in page and "Only owners can set up" in page
    assert "127.0.0.1:9/audit" not in page and stream.secret not in page and "Send test delivery" not in page


def test_a_project_without_a_stream_answers_404_to_its_buttons(client_for, owner, project):
    for name in ROUTES[1:]:
        assert client_for(owner).post(reverse(f"projects:{name}", args=[project.slug])).status_code == 404


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://files.example.com/audit", "Only http and https"),
    ("javascript:alert(1)", "Enter a full https:// URL"),
    ("file:///etc/passwd", "Enter a full https:// URL"),
    ("", "Enter the URL"),
    ("https://example.com/" + "a" * 600, "under 500 characters"),
    ("https://exa\x00mple.com/", "Null characters"),
    ("https://ex ample.com/", "Enter a full https:// URL"),
    ("https://\u202eexample.com/", "invisible control characters"),
    ("https://example.com/\u200bhook", "invisible control characters"),
    ("https://" + "\U0001f600" * 70 + ".com/", ""),
    ("https://例え.テスト/" + "ü" * 300 + "\u0301" * 100, ""),
])
def test_bad_urls_get_a_clear_422_never_a_500(client_for, owner, project, url, says):
    answer = client_for(owner).post(reverse("projects:audit_stream_save", args=[project.slug]), {"url": url})
    assert answer.status_code in (302, 422), answer.status_code
    if answer.status_code == 422:
        assert says in answer.content.decode()
        assert not AuditStream.objects.exists()
    else:
        assert not says  # only the odd-but-valid names may be accepted


@pytest.mark.parametrize(("url", "says"), [
    ("https://10.0.0.7/audit", "private"),
    ("https://127.0.0.1:8443/audit", "loopback"),
    ("https://169.254.169.254/latest", "link-local"),
    ("https://[::ffff:127.0.0.1]/audit", "loopback"),
    ("http://203.0.113.10/audit", "Use an https URL"),
])
def test_in_production_internal_addresses_and_plain_http_are_refused(client_for, owner, project, settings, url, says):
    settings.OUTBOUND_ALLOW_LOOPBACK = settings.OUTBOUND_ALLOW_PRIVATE = False
    answer = client_for(owner).post(reverse("projects:audit_stream_save", args=[project.slug]), {"url": url})
    assert answer.status_code == 422 and says in answer.content.decode()
    assert not AuditStream.objects.exists() and not ProjectAction.objects.filter(target_type="audit_stream").exists()


def test_the_admin_shows_streams_without_their_secret_and_deleting_one_is_audited(client_for, owner, staff, project):
    stream = _stream(project, owner, "https://logs.example.com/activityhub?token=s3cret")
    client = client_for(staff)
    page = client.get(reverse("admin:projects_auditstream_change", args=[stream.pk])).content.decode()
    assert "https://logs.example.com/…" in page and stream.secret not in page and "s3cret" not in page
    assert client.get(reverse("admin:projects_auditstream_add")).status_code == 403
    answer = client.post(reverse("admin:projects_auditstream_changelist"),
                         {"action": "delete_selected", "_selected_action": [stream.pk], "post": "yes"})
    assert answer.status_code == 302 and not AuditStream.objects.exists()
    [entry] = ProjectAction.objects.filter(action_type="audit_stream_removed")
    assert (entry.actor_label, entry.target_id) == (staff.username, str(stream.pk))


def test_entries_retention_removed_while_paused_are_skipped_and_the_stream_goes_on(owner, project):
    from events.retention import prune_activity

    with Receiver([200] * 5) as receiver:
        stream = _stream(project, owner, receiver.url)
        actions.set_audit_stream_paused(stream, True)
        _deploys(project, 3)
        before = [seq for seq in ProjectAction.objects.filter(project=project).values_list("sequence", flat=True)
                  if seq is not None]
        assert len(before) >= 4  # the stream set up, paused, and three deployments
        prune_activity(now=timezone.now() + timedelta(days=project.retention_days + 1))  # all of them are old then
        assert not ProjectAction.objects.filter(sequence__in=before, project=project).exists()
        stream.refresh_from_db()
        actions.set_audit_stream_paused(stream, False)
        _deploys(project, 2, start=4)
        audit_stream.stream_due()
        engine.send_due(now=timezone.now() + timedelta(minutes=5))
        stream.refresh_from_db()
    sent = [seq for batch in _batches(receiver) for seq in _sequences(batch)]
    left = list(ProjectAction.objects.filter(project=project).order_by("sequence").values_list("sequence", flat=True))
    assert sent == left and min(sent) > max(before)  # only what survived, in order, none twice
    assert stream.sent_sequence == left[-1] and not stream.paused
