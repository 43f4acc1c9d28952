"""What the feed page costs in queries (issue 27.2): the session, the user, the membership and the page of events,
plus the member list of the user filter — the navigation's Monitoring link and the feed token cost none."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from events.ingest import ingest_events, validate_event
from monitoring.access import is_manager


@pytest.fixture
def recent_events(project):
    items = [validate_event(event_type="TEST_GENERATION", title=f"Tests for module {i}", entity_type="suite")
             for i in range(60)]
    ingest_events(project, items)


def test_the_html_feed_page_of_recent_events_takes_at_most_five_queries(
        client_for, project, viewer, recent_events, django_assert_max_num_queries):
    client = client_for(viewer)
    url = reverse("events:feed", args=[project.slug])
    client.get(url)  # the first page view of a session fills the navigation's cache
    with django_assert_max_num_queries(5):
        response = client.get(url)
    assert response.status_code == 200 and response.content.decode().count('class="event-row') == 50


def test_a_managers_feed_page_costs_no_more(client_for, project, manager, recent_events, django_assert_max_num_queries):
    from projects.models import Membership, Role

    Membership.objects.create(project=project, user=manager, role=Role.VIEWER)
    client = client_for(manager)
    url = reverse("events:feed", args=[project.slug])
    client.get(url)
    with django_assert_max_num_queries(5):
        html = client.get(url).content.decode()
    assert 'href="/monitoring/"' in html


def test_the_feeds_box_reads_the_token_only_when_opened(client_for, project, viewer):
    client = client_for(viewer)
    closed = client.get(reverse("events:feed", args=[project.slug])).content.decode()
    assert "token=ahf_" not in closed and "feeds=open" in closed and 'hx-trigger="toggle once"' in closed
    opened = client.get(reverse("events:feed", args=[project.slug]) + "?feeds=open").content.decode()
    assert "token=ahf_" in opened and "feeds=open" not in opened.split('id="feeds"')[1].split("</details>")[0]


def test_a_bad_feeds_value_is_a_400_naming_it(client_for, project, viewer):
    response = client_for(viewer).get(reverse("events:feed", args=[project.slug]) + "?feeds=sideways")
    assert response.status_code == 400 and "Feeds" in response.content.decode()


@pytest.mark.parametrize("how", ["group", "permission", "group permission", "none"])
def test_manager_is_decided_in_one_query(django_user_model, django_assert_num_queries, how):
    user = django_user_model.objects.create_user("ines", password="x")
    permission = Permission.objects.get(codename="view_monitoring", content_type__app_label="monitoring")
    if how == "group":
        user.groups.add(Group.objects.get_or_create(name="managers")[0])
    elif how == "permission":
        user.user_permissions.add(permission)
    elif how == "group permission":
        group = Group.objects.create(name="sre")
        group.permissions.add(permission)
        user.groups.add(group)
    user = django_user_model.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert is_manager(user) is (how != "none")
        assert is_manager(user) is (how != "none")  # asked again on the same request: no query


def test_the_filter_form_class_is_prepared_once_and_still_knows_each_projects_members(project, outsider, viewer):
    from django.http import QueryDict

    from events.filters import ActivityEventFilter
    from events.models.activity import ActivityEvent
    from projects.models import Membership, Project, Role

    other = Project.objects.create(name="Other", slug="other", created_by=outsider)
    Membership.objects.create(project=other, user=outsider, role=Role.OWNER)

    def filterset(p, username):
        return ActivityEventFilter(QueryDict(f"user={username}"), queryset=ActivityEvent.objects.for_project(p), project=p)

    first, second = filterset(project, viewer.username), filterset(other, viewer.username)
    assert type(first.form) is type(second.form)  # one class, not one per page
    assert first.is_valid() and not second.is_valid()  # vera is a member of the first project only
    assert filterset(other, outsider.username).is_valid()
