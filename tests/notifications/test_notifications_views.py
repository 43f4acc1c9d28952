"""Settings → Notifications and the personal pages: who may see and change what, and what bad input gets."""

import pytest
from django.urls import reverse

from events.ingest import ingest_events, validate_event
from notifications import sending
from notifications.models import Channel, Delivery, Level, Preference, Source, Subscription, Watch
from outbound import engine
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def subscription(project):
    return Subscription.objects.create(project=project, name="CI hook", channel=Channel.WEBHOOK,
                                       target_url="http://127.0.0.1:9/hook", secret="whsec_x")


def new_rule(**fields):
    return {"name": "Failures to CI", "channel": "webhook", "target_url": "http://127.0.0.1:9/hook", "mode": "immediate",
            "match_events": "on", "event_status": "FAILED", **fields}


def pages(project, subscription):
    slug, pk = project.slug, subscription.pk
    return [
        reverse("notifications:subscriptions", args=[slug]),
        reverse("notifications:subscription", args=[slug, pk]),
        reverse("notifications:subscription_delete", args=[slug, pk]),
        reverse("notifications:watch", args=[slug]),
    ]


def writes(project, subscription):
    slug, pk = project.slug, subscription.pk
    return [
        reverse("notifications:subscription_create", args=[slug]),
        reverse("notifications:subscription", args=[slug, pk]),
        reverse("notifications:subscription_delete", args=[slug, pk]),
        reverse("notifications:subscription_enable", args=[slug, pk]),
        reverse("notifications:subscription_rotate", args=[slug, pk]),
        reverse("notifications:redeliver", args=[slug, pk, 1]),
    ]


def test_outsider_gets_404_on_every_page_and_write(client_for, outsider, project, subscription):
    client = client_for(outsider)
    for url in pages(project, subscription):
        assert client.get(url).status_code == 404, url
    for url in pages(project, subscription) + writes(project, subscription):
        assert client.post(url, new_rule()).status_code == 404, url
    assert Subscription.objects.get().name == "CI hook"


def test_viewer_reads_the_log_but_gets_403_on_every_write(client_for, viewer, project, subscription):
    client = client_for(viewer)
    page = client.get(reverse("notifications:subscription", args=[project.slug, subscription.pk]))
    assert page.status_code == 200 and b"Redeliver" not in page.content and b"Rotate secret" not in page.content
    listing = client.get(reverse("notifications:subscriptions", args=[project.slug]))
    assert b"CI hook" in listing.content and b"New subscription" not in listing.content
    for url in writes(project, subscription):
        assert client.post(url, new_rule()).status_code == 403, url
    assert client.get(reverse("notifications:subscription_create", args=[project.slug])).status_code == 403
    subscription.refresh_from_db()
    assert (subscription.name, subscription.enabled, subscription.secret) == ("CI hook", True, "whsec_x")


def test_editor_creates_a_webhook_and_sees_its_secret_once(client_for, editor, project):
    client = client_for(editor)
    response = client.post(reverse("notifications:subscription_create", args=[project.slug]), new_rule(), follow=True)
    assert response.redirect_chain and response["Cache-Control"] == "no-store"
    subscription = Subscription.objects.get()
    assert subscription.secret.startswith("whsec_") and subscription.secret.encode() in response.content
    again = client.get(reverse("notifications:subscription", args=[project.slug, subscription.pk]))
    assert subscription.secret.encode() not in again.content
    assert (subscription.event_status, subscription.created_by) == ("FAILED", editor)


def test_email_rule_writes_to_chosen_members_only(client_for, owner, viewer, project, outsider):
    client = client_for(owner)
    url = reverse("notifications:subscription_create", args=[project.slug])
    refused = client.post(url, new_rule(channel="email", target_url="", recipients=[outsider.pk]))
    assert refused.status_code == 422 and not Subscription.objects.exists()
    assert client.post(url, new_rule(channel="email", target_url="", recipients=[viewer.pk])).status_code == 302
    assert list(Subscription.objects.get().recipients.all()) == [viewer]


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/hook", b"http"),
    ("http://10.0.0.1/hook", b"private"),
    ("http://[::1]/hook", b"loopback"),
    ("http://2130706433/hook", b"loopback"),
    ("http://169.254.169.254/latest", b"link-local"),
])
def test_webhook_urls_outside_the_guard_are_refused_in_production(client_for, owner, project, settings, url, reason):
    settings.OUTBOUND_ALLOW_LOOPBACK = settings.OUTBOUND_ALLOW_PRIVATE = False
    response = client_for(owner).post(reverse("notifications:subscription_create", args=[project.slug]),
                                      new_rule(target_url=url))
    assert response.status_code == 422
    assert reason in response.content.lower()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("fields", [
    {"name": "x" * 500}, {"name": "bad\x00name"}, {"event_types": ["NOT_A_TYPE"]}, {"channel": "pager"},
    {"match_events": ""}, {"target_url": ""}, {"mode": "weekly"}, {"entity_type": "x" * 65},
    {"target_url": "http://" + "a" * 600 + ".com/"},
])
def test_bad_input_gets_422_not_500(client_for, owner, project, fields):
    response = client_for(owner).post(reverse("notifications:subscription_create", args=[project.slug]), new_rule(**fields))
    assert response.status_code == 422
    assert not Subscription.objects.exists()


def test_odd_unicode_is_kept_as_typed(client_for, owner, project):
    name = "Déploiements 🚀 ﷽ 𝔘"
    client_for(owner).post(reverse("notifications:subscription_create", args=[project.slug]), new_rule(name=name))
    assert Subscription.objects.get().name == name


def test_delete_asks_first_then_deletes(client_for, owner, project, subscription):
    client = client_for(owner)
    url = reverse("notifications:subscription_delete", args=[project.slug, subscription.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Subscription.objects.exists()
    assert client.post(url).status_code == 302
    assert not Subscription.objects.exists()


def test_enabling_again_clears_the_failure_count(client_for, owner, project, subscription):
    Subscription.objects.filter(pk=subscription.pk).update(enabled=False, consecutive_failures=20, disabled_reason="x")
    client_for(owner).post(reverse("notifications:subscription_enable", args=[project.slug, subscription.pk]),
                           {"enabled": "1"})
    subscription.refresh_from_db()
    assert (subscription.enabled, subscription.consecutive_failures, subscription.disabled_reason) == (True, 0, "")


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_signing(client_for, owner, project, subscription):
    response = client_for(owner).post(reverse("notifications:subscription_rotate", args=[project.slug, subscription.pk]),
                                      follow=True)
    subscription.refresh_from_db()
    assert response.status_code == 200 and subscription.secret.encode() in response.content
    assert b"24 hours" in response.content
    assert subscription.secret != "whsec_x" and subscription.signing_secrets() == [subscription.secret, "whsec_x"]


def test_the_log_shows_each_attempt_and_redeliver_queues_a_new_one(client_for, owner, project, django_capture_on_commit_callbacks):
    with Receiver([404, 200]) as receiver:
        subscription = Subscription.objects.create(project=project, name="Hook", channel=Channel.WEBHOOK,
                                                   target_url=receiver.url)
        [(event, _)] = ingest_events(project, [validate_event(event_type="APR_FAILED", title="APR failed",
                                                              entity_type="apr_session", status="FAILED")])
        sending.deliver_recorded(project.pk, Source.EVENT, [event.pk])
        client = client_for(owner)
        url = reverse("notifications:subscription", args=[project.slug, subscription.pk])
        page = client.get(url)
        assert b"404" in page.content and b"HTTP 404" in page.content
        first = Delivery.objects.get(attempt=1)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("notifications:redeliver", args=[project.slug, subscription.pk, first.pk]))
        again = Delivery.objects.get(manual=True)
        engine.send_now([again.pk])
    again.refresh_from_db()
    assert (again.delivery_id, again.status_code, again.state) == (first.delivery_id, 200, "succeeded")
    assert b"(redelivery)" in client.get(url).content


def test_another_projects_delivery_cannot_be_redelivered(client_for, owner, project, subscription, other_project):
    other = Subscription.objects.create(project=other_project, name="Theirs", channel=Channel.WEBHOOK,
                                        target_url="http://127.0.0.1:9/")
    theirs = Delivery.objects.create(**sending.destination_fields(other_project, "event", "1", subscription=other))
    url = reverse("notifications:redeliver", args=[project.slug, subscription.pk, theirs.pk])
    assert client_for(owner).post(url).status_code == 404
    assert Delivery.objects.count() == 1


@pytest.fixture
def other_project(outsider):
    from projects.models import Project

    return Project.objects.create(name="Other", slug="other", created_by=outsider)


def test_viewer_can_watch_the_projects_failures_and_one_entity(client_for, viewer, project):
    client = client_for(viewer)
    url = reverse("notifications:watch", args=[project.slug])
    assert b"Watch failures" in client.get(url).content
    client.post(url, headers={"HX-Request": "true"})
    assert Preference.objects.get(user=viewer).level == Level.FAILURES
    assert b"Stop watching failures" in client.get(url).content
    response = client.post(url, {"entity_type": "apr_session", "entity_id": "42"}, headers={"HX-Request": "true"})
    assert b"Stop watching this session" in response.content
    assert Watch.objects.filter(user=viewer, entity_type="apr_session", entity_id="42").exists()
    client.post(url, {"entity_type": "apr_session", "entity_id": "42"})
    assert not Watch.objects.exists()


def test_watch_needs_both_entity_fields(client_for, viewer, project):
    response = client_for(viewer).post(reverse("notifications:watch", args=[project.slug]), {"entity_type": "apr_session"})
    assert response.status_code == 400 and not Watch.objects.exists()


def test_preferences_page_sets_level_and_mode_per_project(client_for, viewer, project):
    client = client_for(viewer)
    url = reverse("notifications:preferences")
    assert project.name.encode() in client.get(url).content
    response = client.post(url, {"project": project.slug, f"{project.slug}-level": "everything",
                                 f"{project.slug}-mode": "daily"})
    assert response.status_code == 302
    preference = Preference.objects.get(user=viewer, project=project)
    assert (preference.level, preference.mode) == ("everything", "daily")
    assert client.post(url, {"project": project.slug, f"{project.slug}-level": "loud"}).status_code == 422
    assert client.post(url, {"project": "other", "other-level": "everything"}).status_code == 404


def test_settings_page_links_to_notifications(client_for, viewer, project):
    page = client_for(viewer).get(reverse("projects:settings", args=[project.slug]))
    assert reverse("notifications:subscriptions", args=[project.slug]).encode() in page.content


def test_feed_and_event_pages_load_the_watch_button(client_for, viewer, project):
    [(event, _)] = ingest_events(project, [validate_event(event_type="APR_FAILED", title="APR failed",
                                                          entity_type="apr_session", entity_id="7", status="FAILED")])
    client = client_for(viewer)
    watch = reverse("notifications:watch", args=[project.slug])
    assert watch.encode() in client.get(reverse("events:feed", args=[project.slug])).content
    detail = client.get(reverse("events:event_detail", args=[project.slug, event.pk])).content
    assert f"{watch}?entity_type=apr_session&amp;entity_id=7".encode() in detail


def test_a_subscription_that_becomes_a_webhook_gets_a_secret_shown_once(client_for, owner, project):
    subscription = Subscription.objects.create(project=project, name="Mail", channel=Channel.EMAIL)
    url = reverse("notifications:subscription", args=[project.slug, subscription.pk])
    response = client_for(owner).post(url, new_rule(name="Now a hook"), follow=True)
    subscription.refresh_from_db()
    assert subscription.channel == "webhook" and subscription.secret.startswith("whsec_")
    assert subscription.secret.encode() in response.content
