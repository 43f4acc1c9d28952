"""Atom and JSON Feed of a project's activity: token auth without a session, the page's filters, XML-safe text."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from events.models.activity import ActivityEvent, EventStatus, EventType
from events.models.feeds import FeedToken
from projects.models import Membership, Project, Role

ATOM = "{http://www.w3.org/2005/Atom}"


def add_event(project, title="Indexed main", **extra):
    values = {"event_type": EventType.INDEXING_COMPLETED, "status": EventStatus.COMPLETED, "entity_type": "indexing",
              "title": title, "duration": 1500, **extra}
    return ActivityEvent.objects.create(project=project, **values)


def atom_url(project, token, **params):
    return reverse("events:feed_atom", args=[project.slug]), {"token": token, **params}


def get_atom(client, project, user, **params):
    url, query = atom_url(project, FeedToken.objects.for_user(user).token, **params)
    return client.get(url, query)


def get_json(client, project, user, **params):
    url = reverse("events:feed_json", args=[project.slug])
    return client.get(url, {"token": FeedToken.objects.for_user(user).token, **params})


def entries(response):
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root.findall(f"{ATOM}entry")


def test_atom_feed_lists_events_newest_first_with_links_ids_and_authors(client, project, viewer, owner):
    owner.first_name, owner.last_name = "Olivia", "Owens"
    owner.save()
    old = add_event(project, "Older", created_at=timezone.now() - timedelta(hours=1), user=owner)
    new = add_event(project, "Newer", status=EventStatus.FAILED, event_type=EventType.AUTO_FIX_FAILED, duration=61_000)
    response = get_atom(client, project, viewer)  # a viewer reads feeds; no session needed
    assert response["Content-Type"].startswith("application/atom+xml")
    found = entries(response)
    assert [e.findtext(f"{ATOM}title") for e in found] == ["Newer", "Older"]
    first, second = found
    detail = f"http://testserver/projects/{project.slug}/activity/{new.pk}/"
    assert first.find(f"{ATOM}link").get("href") == detail
    assert first.findtext(f"{ATOM}id") == detail
    assert "Failed" in first.findtext(f"{ATOM}summary") and "1 m 01 s" in first.findtext(f"{ATOM}summary")
    assert {c.get("term") for c in first.findall(f"{ATOM}category")} >= {"AUTO_FIX_FAILED", "FAILED"}
    assert first.findtext(f"{ATOM}updated") and first.findtext(f"{ATOM}published")
    assert second.findtext(f"{ATOM}author/{ATOM}name") == "Olivia Owens"
    assert second.findtext(f"{ATOM}id").endswith(f"/activity/{old.pk}/")
    assert response["Last-Modified"] and response["ETag"]


def test_json_feed_follows_version_1_1(client, project, editor, owner):
    event = add_event(project, "Shipped", user=owner, description="All <green>")
    response = get_json(client, project, editor)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/feed+json")
    document = response.json()
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Acme API · activity"
    assert document["home_page_url"] == f"http://testserver/projects/{project.slug}/activity/"
    assert document["feed_url"].startswith(f"http://testserver/projects/{project.slug}/activity/feed.json?token=ahf_")
    [item] = document["items"]
    assert item["id"] == item["url"] == f"http://testserver/projects/{project.slug}/activity/{event.pk}/"
    assert item["title"] == "Shipped"
    assert "Completed" in item["content_text"] and "All <green>" in item["content_text"]
    assert item["authors"] == [{"name": "olivia"}]
    assert item["_activityhub"]["duration_ms"] == 1500
    assert item["date_published"] and item["date_modified"]


def test_conditional_get_answers_304_when_nothing_changed(client, project, viewer):
    add_event(project)
    first = get_json(client, project, viewer)
    again = client.get(reverse("events:feed_json", args=[project.slug]),
                       {"token": FeedToken.objects.for_user(viewer).token}, headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304


def test_filters_apply_like_the_page(client, project, viewer):
    add_event(project, "Indexed main")
    add_event(project, "Auto-fix broke", status=EventStatus.FAILED, event_type=EventType.AUTO_FIX_FAILED)
    titles = [e.findtext(f"{ATOM}title") for e in entries(get_atom(client, project, viewer, status="FAILED"))]
    assert titles == ["Auto-fix broke"]
    assert get_json(client, project, viewer, q="nothing-matches-this")["Content-Type"].startswith("application/feed+json")
    assert get_json(client, project, viewer, q="nothing-matches-this").json()["items"] == []
    assert entries(get_atom(client, project, viewer, entity_type="apr_session")) == []
    assert len(get_json(client, project, viewer, limit=1).json()["items"]) == 1


@pytest.mark.parametrize(("params", "reason"), [
    ({"since": "2026-02-31"}, "From: Enter a valid date."),
    ({"since": "9999-12-31"}, "From: Pick a day between"),
    ({"type": "NOT_A_TYPE"}, "Type: Select a valid choice."),
    ({"limit": "100000"}, "limit: At most 200 events per feed"),
    ({"limit": "0"}, "limit:"),
    ({"limit": "lots"}, "limit: Enter a whole number."),
])
def test_bad_filters_or_limit_get_400_with_the_reason(client, project, viewer, params, reason):
    for response in (get_atom(client, project, viewer, **params), get_json(client, project, viewer, **params)):
        assert response.status_code == 400
        assert reason in response.content.decode()


def test_control_characters_and_odd_unicode_never_break_the_xml(client, project, viewer, owner):
    nul = "" if connection.vendor == "postgresql" else "\x00"  # PostgreSQL text cannot hold NUL at all; SQLite can
    owner.first_name = f"Zoë{nul}\x0b"
    owner.save()
    add_event(project, f"Build\x0b done{nul} — ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \ufffe", user=owner, description="line\x1f one\nline two",
              entity_id="id\x07\u202e", metadata={"key": "\x0bvalue"})
    project.name = "Acme\x01 API"
    project.save()
    [entry] = entries(get_atom(client, project, viewer))
    assert entry.findtext(f"{ATOM}title") == "Build done — ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 "
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Zoë"
    assert "line one" in entry.findtext(f"{ATOM}summary")
    [item] = get_json(client, project, viewer).json()["items"]
    assert item["title"] == "Build done — ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 "
    assert item["_activityhub"]["entity_id"] == "id\u202e"


def test_resetting_the_token_stops_the_old_url_at_once(client_for, project, viewer):
    old = FeedToken.objects.for_user(viewer).token
    url = reverse("events:feed_atom", args=[project.slug])
    assert client_for(viewer).get(url, {"token": old}).status_code == 200
    response = client_for(viewer).post(reverse("events:feed_token_reset", args=[project.slug]), {"filters": "status=FAILED"})
    assert response.status_code == 302 and response["Location"].endswith("/activity/?status=FAILED")
    new = FeedToken.objects.for_user(viewer).token
    assert new != old
    client_for(viewer).logout()
    assert client_for(viewer).get(url, {"token": old}).status_code == 404
    assert client_for(viewer).get(url, {"token": new}).status_code == 200


def test_token_url_is_stable_until_reset(project, viewer):
    assert FeedToken.objects.for_user(viewer).token == FeedToken.objects.for_user(viewer).token
    assert FeedToken.objects.authenticate(FeedToken.objects.for_user(viewer).token) == viewer
    stored = FeedToken.objects.get(user=viewer)
    assert stored.token not in (stored.key_hash, stored.prefix)  # the table holds a keyed hash, not the token


def test_the_stored_row_alone_cannot_rebuild_the_token(settings, viewer):
    token = FeedToken.objects.for_user(viewer).token
    settings.API_KEY_HASH_SECRET = "a different server secret"  # what someone holding only the table would lack
    assert FeedToken.objects.get(user=viewer).token != token
    assert FeedToken.objects.authenticate(token) is None


@pytest.mark.parametrize("token", ["", "ahf_0000000000000000_" + "0" * 40, "nonsense", "x" * 500, "ahf_\x00"])
def test_bad_or_absent_token_gets_404(client, project, viewer, token):
    FeedToken.objects.for_user(viewer)
    url = reverse("events:feed_json", args=[project.slug])
    assert client.get(url, {"token": token}).status_code == 404
    assert client.get(url).status_code == 404


def test_a_token_with_one_character_changed_gets_404(client, project, viewer):
    token = FeedToken.objects.for_user(viewer).token
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert client.get(reverse("events:feed_atom", args=[project.slug]), {"token": forged}).status_code == 404


def test_outsider_token_gets_404_like_a_missing_project(client, project, outsider):
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=outsider, role=Role.OWNER)
    assert get_atom(client, project, outsider).status_code == 404
    assert get_json(client, project, outsider).status_code == 404
    missing = client.get(reverse("events:feed_json", args=["no-such-project"]),
                         {"token": FeedToken.objects.for_user(outsider).token})
    assert missing.status_code == 404
    assert get_json(client, other, outsider).status_code == 200


def test_removed_member_token_stops_working(client, project, editor):
    assert get_json(client, project, editor).status_code == 200
    Membership.objects.filter(project=project, user=editor).delete()
    assert get_json(client, project, editor).status_code == 404


def test_deactivated_user_token_stops_working(client, project, editor):
    editor.is_active = False
    editor.save()
    assert get_atom(client, project, editor).status_code == 404


def test_feeds_are_read_only(client, project, viewer):
    url = reverse("events:feed_json", args=[project.slug])
    token = FeedToken.objects.for_user(viewer).token
    assert client.post(url, {"token": token}).status_code == 405
    assert client.head(url, {"token": token}).status_code == 200


def test_feed_page_shows_feed_urls_for_the_current_filters(client_for, project, viewer):
    # The Feeds box reads the token when opened (?feeds=open: what opening it fetches, or its link without JS).
    response = client_for(viewer).get(reverse("events:feed", args=[project.slug]), {"status": "FAILED", "feeds": "open"})
    token = FeedToken.objects.get(user=viewer).token
    html = response.content.decode()
    assert f"/activity/feed.atom?status=FAILED&amp;token={token}" in html
    assert f"/activity/feed.json?status=FAILED&amp;token={token}" in html


def test_reset_by_htmx_returns_the_new_urls(client_for, project, viewer):
    old = FeedToken.objects.for_user(viewer).token
    response = client_for(viewer).post(reverse("events:feed_token_reset", args=[project.slug]), {"filters": "q=deploy"},
                                       headers={"hx-request": "true"})
    new = FeedToken.objects.get(user=viewer).token
    html = response.content.decode()
    assert response.status_code == 200 and new != old
    assert f"feed.atom?q=deploy&amp;token={new}" in html and old not in html
    assert "old feed URLs no longer work" in html


def test_outsider_cannot_reset_through_a_project(client_for, project, outsider):
    FeedToken.objects.for_user(outsider)
    before = FeedToken.objects.get(user=outsider).key_hash
    response = client_for(outsider).post(reverse("events:feed_token_reset", args=[project.slug]))
    assert response.status_code == 404
    assert FeedToken.objects.get(user=outsider).key_hash == before


def test_reset_with_a_mangled_filter_query_still_redirects_safely(client_for, project, viewer):
    response = client_for(viewer).post(reverse("events:feed_token_reset", args=[project.slug]),
                                       {"filters": "status=FAILED\r\nSet-Cookie: x=1"})
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/activity/?status=FAILED%0D%0ASet-Cookie%3A+x%3D1"


def test_reset_needs_post(client_for, project, viewer):
    assert client_for(viewer).get(reverse("events:feed_token_reset", args=[project.slug])).status_code == 405
