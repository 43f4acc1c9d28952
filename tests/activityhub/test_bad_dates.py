"""Far-away days in since/until are a clear 400 on every page and export that filters by day, never a 500."""

import pytest
from django.urls import reverse

from events.models.activity import ActivityEvent, EventStatus, EventType
from tests.api_fixtures import *  # noqa: F403

PAGES = ["events:feed", "events:audit", "events:feed_export_csv", "events:feed_export_jsonl",
         "events:audit_export_csv", "events:audit_export_jsonl"]


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("params", [{"until": "9999-12-31"}, {"since": "0001-01-01"}, {"since": "1000-01-01", "until": "9999-12-30"}])
def test_days_beyond_the_range_are_a_400_naming_the_range(client_for, project, viewer, name, params):
    response = client_for(viewer).get(reverse(name, args=[project.slug]), params)
    assert response.status_code == 400
    assert "between 1970-01-01 and 2999-12-31" in response.content.decode()


def test_the_api_feed_refuses_the_same_days(api_as, read_token):
    response = api_as(read_token).get("/feed", until="9999-12-31")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "until"


def test_days_at_the_edges_of_the_range_work(client_for, project, viewer):
    ActivityEvent.objects.create(project=project, event_type=EventType.INDEXING_COMPLETED, status=EventStatus.COMPLETED,
                                 title="kept", entity_type="indexing")
    response = client_for(viewer).get(reverse("events:feed", args=[project.slug]), {"since": "1970-01-01", "until": "2999-12-31"})
    assert response.status_code == 200 and "kept" in response.content.decode()
