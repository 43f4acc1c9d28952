"""Every project-scoped URL: outsiders get 404, viewers who write get 403."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from projects.models import Membership


def project_scoped_patterns():
    """(name, kwargs) for every URL pattern that takes the project slug, found by walking the resolver."""

    def walk(patterns, prefix_ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{prefix_ns}{p.namespace}:" if p.namespace else prefix_ns
                yield from walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern) and p.name:
                converters = p.pattern.converters
                if "slug" in converters:
                    kwargs = {k: ("acme-api" if k == "slug" else 1 if type(c).__name__ == "IntConverter" else "x")
                              for k, c in converters.items()}
                    yield f"{prefix_ns}{p.name}", kwargs

    return sorted(walk(get_resolver().url_patterns))


PROJECT_URLS = project_scoped_patterns()


def test_project_scoped_urls_are_found():
    names = {name for name, _ in PROJECT_URLS}
    assert {"projects:console", "projects:settings", "events:feed"} <= names


@pytest.mark.parametrize(("name", "kwargs"), PROJECT_URLS, ids=[n for n, _ in PROJECT_URLS])
def test_outsider_gets_404_everywhere(client_for, project, outsider, name, kwargs):
    client = client_for(outsider)
    url = reverse(name, kwargs=kwargs)
    statuses = {client.get(url).status_code, client.post(url, {}).status_code}
    # 405 (wrong method) reveals nothing; whichever method the view takes must answer 404.
    assert statuses <= {404, 405} and 404 in statuses


# Feed readers carry no session: these authenticate with ?token= (tests/events/test_feeds.py) and answer 404 without one.
TOKEN_AUTHENTICATED = {"events:feed_atom", "events:feed_json"}


@pytest.mark.parametrize(("name", "kwargs"), PROJECT_URLS, ids=[n for n, _ in PROJECT_URLS])
def test_anonymous_is_sent_to_login(client, project, name, kwargs):
    if name in TOKEN_AUTHENTICATED:
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404
        return
    # Signing in comes first: not a 404 (which would also pass with the login middleware removed).
    for response in (client.get(reverse(name, kwargs=kwargs)), client.post(reverse(name, kwargs=kwargs), {})):
        assert response.status_code == 302 and response["Location"].startswith("/login/"), response.status_code


def test_member_pages_open_for_viewer(client_for, project, viewer):
    client = client_for(viewer)
    for name in ["projects:console", "projects:settings", "events:feed"]:
        assert client.get(reverse(name, args=[project.slug])).status_code == 200


def test_viewer_writing_members_gets_403(client_for, project, viewer, outsider):
    client = client_for(viewer)
    target = Membership.objects.get(project=project, user=viewer)
    assert client.post(reverse("projects:member_add", args=[project.slug]), {"username": outsider.username, "role": "viewer"}).status_code == 403
    assert client.post(reverse("projects:member_role", args=[project.slug, target.pk]), {"role": "owner"}).status_code == 403
    assert client.post(reverse("projects:member_remove", args=[project.slug, target.pk])).status_code == 403
    assert Membership.objects.get(pk=target.pk).role == "viewer"


def test_editor_cannot_manage_members(client_for, project, editor, outsider):
    response = client_for(editor).post(
        reverse("projects:member_add", args=[project.slug]), {"username": outsider.username, "role": "viewer"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_project_list_shows_only_mine(client_for, project, outsider):
    from projects.models import Project

    Project.objects.create(name="Secret", slug="secret")
    response = client_for(outsider).get(reverse("projects:list"))
    assert response.status_code == 200
    assert b"Acme API" not in response.content
    assert b"Secret" not in response.content
