"""An activity event recorded through the API says which key recorded it (by name and prefix, as the audit page
names keys), on the feed and on the event's page; never "system". Keys can be deleted (in the admin, one by one or
in bulk): the event keeps the key's label from when it was recorded, so it still names the key, not "the system"."""

import pytest
from django.urls import reverse

from events.models import ActivityEvent
from events.tracking import track_event
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def event(**extra):
    return {"event_type": "INDEXING_STARTED", "entity_type": "indexing", "title": "Indexing repo", **extra}


@pytest.fixture
def key_and_token(project, owner):
    return ApiKey.objects.create_key(project=project, name="deploy bot", scope="write", created_by=owner)


def _label(key):
    return f"API key “deploy bot” (ah_{key.prefix}_…)"


@pytest.mark.parametrize("size", [1, 3, 12])  # one INSERT, bulk_create, PostgreSQL's JSON fast path (10 and more)
def test_events_recorded_through_the_api_point_at_their_key(size, api_as, key_and_token, project):
    key, token = key_and_token
    body = event() if size == 1 else {"events": [event(title=f"Indexing {n}") for n in range(size)]}
    assert api_as(token).post("/events", body).status_code == 201
    assert list(ActivityEvent.objects.filter(project=project).values_list("api_key_id", "api_key_label")) == [
        (key.pk, _label(key))] * size


def test_the_feed_and_the_event_page_name_the_key_not_the_system(api_as, key_and_token, project, owner, client_for):
    key, token = key_and_token
    pk = api_as(token).post("/events", event(title="Indexing from CI")).json()["id"]
    client = client_for(owner)
    feed = client.get(reverse("events:feed", args=[project.slug])).content.decode()
    row = feed[feed.index(f'id="event-{pk}"'):].split("</tr>", 1)[0]
    assert _label(key) in row and "system" not in row
    page = client.get(reverse("events:event_detail", args=[project.slug, pk])).content.decode()
    assert f"<dd>{_label(key)}</dd>" in page and "the system" not in page


def test_an_event_a_member_recorded_still_names_the_member(project, owner, client_for):
    recorded = track_event(project=project, user=owner, event_type="INDEXING_STARTED", entity_type="indexing",
                                    title="Indexing by hand")
    assert recorded.api_key_id is None and ActivityEvent.objects.get(pk=recorded.pk).api_key_label is None
    page = client_for(owner).get(reverse("events:event_detail", args=[project.slug, recorded.pk])).content.decode()
    assert f"<dd>{owner.get_username()}</dd>" in page


@pytest.mark.parametrize("size", [1, 3, 12])
def test_a_key_deleted_in_the_admin_still_names_its_events(size, api_as, key_and_token, project, owner, staff,
                                                            client_for, client):
    key, token = key_and_token
    body = event() if size == 1 else {"events": [event(title=f"Indexing {n}") for n in range(size)]}
    assert api_as(token).post("/events", body).status_code == 201
    pk = ActivityEvent.objects.filter(project=project).latest("id").pk
    client.force_login(staff)
    deleted = client.post(reverse("admin:projects_apikey_delete", args=[key.pk]), {"post": "yes"})
    assert deleted.status_code == 302 and not ApiKey.objects.filter(pk=key.pk).exists()
    assert set(ActivityEvent.objects.filter(project=project).values_list("api_key_id", "api_key_label")) == {
        (None, _label(key))}
    client = client_for(owner)
    page = client.get(reverse("events:event_detail", args=[project.slug, pk])).content.decode()
    assert f"<dd>{_label(key)}</dd>" in page and "the system" not in page
    feed = client.get(reverse("events:feed", args=[project.slug])).content.decode()
    row = feed[feed.index(f'id="event-{pk}"'):].split("</tr>", 1)[0]
    assert _label(key) in row and "system" not in row


def test_a_renamed_key_reads_by_its_current_name_while_it_exists(api_as, key_and_token, project, owner, client_for):
    key, token = key_and_token
    pk = api_as(token).post("/events", event(title="Indexing from CI")).json()["id"]
    ApiKey.objects.filter(pk=key.pk).update(name="release bot")
    page = client_for(owner).get(reverse("events:event_detail", args=[project.slug, pk])).content.decode()
    assert f"<dd>API key “release bot” (ah_{key.prefix}_…)</dd>" in page and "deploy bot" not in page
