"""Watches wherever a person looks: workflows and runs on the monitoring pages, events without an entity of their
own, each labelled in words. Watching is personal: any member may watch (viewers too), a non-member gets 404."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events.ingest import ingest_events, update_event, validate_event
from monitoring.runs import start_run
from notifications import run_watches, sending
from notifications.models import Delivery, Source, Watch
from notifications.watching import noun
from projects.models import Membership, Role

HTMX = {"HX-Request": "true"}


@pytest.fixture
def run(project):
    started, _ = start_run(project, run_id="nightly-17", workflow_name="nightly-backup",
                           started_at=timezone.now() - timedelta(minutes=3))
    return started


@pytest.fixture
def member_manager(manager, project):
    Membership.objects.create(project=project, user=manager, role=Role.VIEWER)
    return manager


def watch_url(project):
    return reverse("notifications:watch", args=[project.slug])


@pytest.mark.parametrize(("entity_type", "entity_id", "label"), [
    ("workflow", "nightly-backup", "this workflow"),
    ("workflow_run", "nightly-17", "this run"),
    ("activity_event", "12", "this event"),
    ("apr_session", "42", "this session"),
])
def test_a_viewer_watches_and_stops_watching_in_words(client_for, viewer, project, entity_type, entity_id, label):
    client = client_for(viewer)
    item = {"entity_type": entity_type, "entity_id": entity_id}
    assert f"Watch {label}".encode() in client.get(watch_url(project), item).content
    watched = client.post(watch_url(project), item, headers=HTMX)
    assert watched.status_code == 200 and f"Stop watching {label}".encode() in watched.content
    assert Watch.objects.filter(user=viewer, project=project, **item).exists()
    stopped = client.post(watch_url(project), item, headers=HTMX)
    assert f"Watch {label}".encode() in stopped.content and b"Stop watching" not in stopped.content
    assert not Watch.objects.exists()


def test_an_outsider_gets_404_and_nothing_is_stored(client_for, outsider, project):
    response = client_for(outsider).post(watch_url(project), {"entity_type": "workflow", "entity_id": "nightly-backup"})
    assert response.status_code == 404 and not Watch.objects.exists()


def test_watching_needs_the_csrf_token(viewer, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    item = {"entity_type": "workflow", "entity_id": "nightly-backup"}
    assert client.post(watch_url(project), item, headers=HTMX).status_code == 403
    assert not Watch.objects.exists()
    form = client.get(watch_url(project), item).content.decode()
    token = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert client.post(watch_url(project), {**item, "csrfmiddlewaretoken": token}, headers=HTMX).status_code == 200
    assert Watch.objects.filter(user=viewer, entity_type="workflow").exists()


def test_without_htmx_watching_goes_back_with_a_sentence(client_for, viewer, project, run):
    page = reverse("monitoring:run_detail", args=[run.pk])
    client = client_for(viewer)
    response = client.post(watch_url(project), {"entity_type": "workflow_run", "entity_id": "nightly-17", "next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert Watch.objects.filter(user=viewer, entity_type="workflow_run", entity_id="nightly-17").exists()
    notices = [str(m) for m in client.get(reverse("notifications:preferences")).context["messages"]]
    assert notices == ["You are now watching this run."]


def test_the_run_page_offers_to_watch_the_run_and_its_workflow_to_a_member(client_for, member_manager, project, run):
    page = client_for(member_manager).get(reverse("monitoring:run_detail", args=[run.pk])).content.decode()
    assert f"{watch_url(project)}?entity_type=workflow_run&amp;entity_id=nightly-17" in page
    assert f"{watch_url(project)}?entity_type=workflow&amp;entity_id=nightly-backup" in page


def test_a_manager_outside_the_project_sees_no_watch_button(client_for, manager, project, run):
    page = client_for(manager).get(reverse("monitoring:run_detail", args=[run.pk]))
    assert page.status_code == 200 and watch_url(project).encode() not in page.content


def test_the_schedule_page_offers_to_watch_its_workflow(client_for, member_manager, project):
    from monitoring.models import WorkflowSchedule

    schedule = WorkflowSchedule.objects.create(project=project, workflow_name="nightly-backup",
                                               cron_expression="0 2 * * *")
    page = client_for(member_manager).get(reverse("monitoring:schedule_detail", args=[schedule.schedule_id]))
    assert f"{watch_url(project)}?entity_type=workflow&amp;entity_id=nightly-backup".encode() in page.content


def test_an_event_without_an_entity_id_can_be_watched_from_its_page(client_for, viewer, project):
    [(event, _)] = ingest_events(project, [validate_event(event_type="INDEXING_STARTED", title="Indexing main",
                                                          entity_type="indexing")])
    page = client_for(viewer).get(reverse("events:event_detail", args=[project.slug, event.pk]))
    assert f"{watch_url(project)}?entity_type=activity_event&amp;entity_id={event.pk}".encode() in page.content


def test_watching_an_event_without_an_entity_emails_its_outcome_and_nothing_else(project, viewer):
    [(watched, _), (other, _)] = ingest_events(project, [
        validate_event(event_type="INDEXING_STARTED", title="Indexing main", entity_type="indexing"),
        validate_event(event_type="INDEXING_STARTED", title="Indexing docs", entity_type="indexing"),
    ])
    Watch.objects.create(user=viewer, project=project, entity_type="activity_event", entity_id=str(watched.pk))
    update_event(watched, status="FAILED")
    update_event(other, status="FAILED")
    sending.deliver_recorded(project.pk, Source.EVENT, [watched.pk, other.pk])
    [message] = mail.outbox
    assert message.to == [viewer.email] and message.subject.startswith("Indexing started on indexing run in Acme API")
    assert "Indexing main" in message.body


def test_each_kind_reads_as_a_word():
    assert [noun(t) for t in ("apr_session", "workflow", "workflow_run", "activity_event", "code_review")] == [
        "session", "workflow", "run", "event", "code review",
    ]


def finish(project, run_id, status="FAILED", **fields):
    from monitoring.runs import finish_run

    return finish_run(project, run_id, status=status, completed_at=timezone.now(), **fields)


def test_a_watched_run_tells_its_watcher_how_it_ended_with_a_link(project, viewer, editor, run, settings):
    settings.SITE_URL = "https://hub.example.com"
    Watch.objects.create(user=viewer, project=project, entity_type="workflow_run", entity_id="nightly-17")
    finish(project, "nightly-17", error_message="disk full")
    assert run_watches.deliver_finished_run(run.pk) == 1
    assert run_watches.deliver_finished_run(run.pk) == 0  # a second worker: nothing new
    [message] = mail.outbox
    assert message.to == [viewer.email]
    assert message.subject == "nightly-backup failed after 3 m 00 s in Acme API"
    assert "Run nightly-17 in production." in message.body and "Error: disk full" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://hub.example.com/notifications/unsubscribe/")
    assert f"https://hub.example.com{reverse('monitoring:run_detail', args=[run.pk])}" in message.body
    delivery = Delivery.objects.get()
    assert (delivery.source, delivery.recipient_id, delivery.event_type) == (Source.RUN, viewer.pk, "run.failed")


def test_watching_a_workflow_tells_about_each_of_its_runs_and_no_other(project, viewer, run):
    Watch.objects.create(user=viewer, project=project, entity_type="workflow", entity_id="nightly-backup")
    other, _ = start_run(project, run_id="hourly-3", workflow_name="hourly-sync", started_at=timezone.now())
    finish(project, "nightly-17", status="SUCCESS")
    finish(project, "hourly-3")
    assert run_watches.deliver_finished_run(run.pk) == 1 and run_watches.deliver_finished_run(other.pk) == 0
    [message] = mail.outbox
    assert "nightly-backup succeeded" in message.subject


def test_finishing_a_watched_run_queues_the_delivery_after_the_commit(project, viewer, run,
                                                                      django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    Watch.objects.create(user=viewer, project=project, entity_type="workflow", entity_id="nightly-backup")
    with django_capture_on_commit_callbacks(execute=True):
        finish(project, "nightly-17")
        assert not DBTaskResult.objects.filter(task_path__endswith="deliver_run").exists()
    [queued] = DBTaskResult.objects.filter(task_path__endswith="deliver_run")
    assert queued.args_kwargs["args"] == [run.pk]
    with django_capture_on_commit_callbacks(execute=True):
        finish(project, "nightly-17")  # the same finish again: counted once, told once
    assert DBTaskResult.objects.filter(task_path__endswith="deliver_run").count() == 1
