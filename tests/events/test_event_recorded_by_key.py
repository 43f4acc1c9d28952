"""An activity event recorded through the API says which key recorded it (by name and prefix, as the audit page
names keys), on the feed and on the event's page; never "system". A key deleted later leaves its events readable."""

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
    assert list(ActivityEvent.objects.filter(project=project).values_list("api_key_id", flat=True)) == [key.pk] * size


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
    assert recorded.api_key_id is None
    page = client_for(owner).get(reverse("events:event_detail", args=[project.slug, recorded.pk])).content.decode()
    assert f"<dd>{owner.get_username()}</dd>" in page


def test_a_key_deleted_later_leaves_its_events_readable(api_as, key_and_token, project, owner, client_for):
    key, token = key_and_token
    pk = api_as(token).post("/events", event(title="Indexing before the key went")).json()["id"]
    ApiKey.objects.filter(pk=key.pk).delete()
    assert ActivityEvent.objects.get(pk=pk).api_key_id is None
    client = client_for(owner)
    page = client.get(reverse("events:event_detail", args=[project.slug, pk]))
    assert page.status_code == 200 and "Indexing before the key went" in page.content.decode()
    feed = client.get(reverse("events:feed", args=[project.slug]))
    assert feed.status_code == 200 and f'id="event-{pk}"' in feed.content.decode()
