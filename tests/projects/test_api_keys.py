"""API keys: owners manage them in Settings (full key shown once), the database keeps a prefix and keyed hash,
the admin shows prefixes only, and the docs page works offline under the strict CSP."""

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models import ProjectAction
from projects.models import ApiKey, hash_api_token
from tests.api_fixtures import *  # noqa: F403


def create_url(project):
    return reverse("projects:api_key_create", args=[project.slug])


def revoke_url(project, key):
    return reverse("projects:api_key_revoke", args=[project.slug, key.pk])


def test_owner_creates_a_key_and_sees_the_full_key_once(client_for, owner, project, api_as):
    client = client_for(owner)
    response = client.post(create_url(project), {"name": "CI pipeline", "scope": "write"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    key = ApiKey.objects.get()
    token = response.context["new_token"]
    assert token.startswith(f"ah_{key.prefix}_")
    assert token in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    # Stored: the prefix and a keyed hash, never the key itself.
    assert key.key_hash == hash_api_token(token) and token not in key.key_hash
    assert (key.name, key.scope, key.created_by) == ("CI pipeline", "write", owner)
    # Shown once: the Settings page lists the prefix only.
    page = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert f"ah_{key.prefix}_…" in page and token not in page
    # And the key works.
    assert api_as(token).post("/actions", {"action_type": "deployment"}).status_code == 201


def test_plain_form_post_without_javascript_shows_the_key_on_the_settings_page(client_for, owner, project):
    response = client_for(owner).post(create_url(project), {"name": "worker", "scope": "read"})
    assert response.status_code == 201
    html = response.content.decode()
    assert response.context["new_token"] in html and "Members" in html


def test_key_creation_is_audited(client_for, owner, project):
    client_for(owner).post(create_url(project), {"name": "worker", "scope": "read"})
    action = ProjectAction.objects.get(action_type="api_key_created")
    assert "worker" in action.action_details and action.user == owner


@pytest.mark.parametrize(
    "data, field", [({"name": "", "scope": "read"}, "name"), ({"name": "x", "scope": "admin"}, "scope")]
)
def test_invalid_key_form_is_422_with_the_message(client_for, owner, project, data, field):
    response = client_for(owner).post(create_url(project), data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response.context["key_form"].errors[field]
    assert ApiKey.objects.count() == 0


def test_duplicate_active_name_is_refused(client_for, owner, project):
    ApiKey.objects.create_key(project=project, name="CI", scope="read")
    response = client_for(owner).post(create_url(project), {"name": "ci", "scope": "read"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "already named" in response.content.decode()


def test_owner_revokes_a_key_and_it_stops_working(client_for, owner, project, api_as):
    key, token = ApiKey.objects.create_key(project=project, name="old", scope="write")
    assert api_as(token).get("/feed").status_code == 200
    response = client_for(owner).post(revoke_url(project, key), headers={"HX-Request": "true"})
    assert response.status_code == 200 and "revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_as(token).get("/feed").status_code == 401
    assert ProjectAction.objects.filter(action_type="api_key_revoked").count() == 1
    # Revoking again changes nothing and audits nothing twice.
    client_for(owner).post(revoke_url(project, key), headers={"HX-Request": "true"})
    assert ProjectAction.objects.filter(action_type="api_key_revoked").count() == 1


def test_revoke_without_javascript_redirects_to_settings(client_for, owner, project):
    key, _ = ApiKey.objects.create_key(project=project, name="old")
    response = client_for(owner).post(revoke_url(project, key))
    assert response.status_code == 302 and response.url == reverse("projects:settings", args=[project.slug])


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_owners_cannot_create_or_revoke_keys_403(client_for, project, request, role):
    key, _ = ApiKey.objects.create_key(project=project, name="k")
    client = client_for(request.getfixturevalue(role))
    assert client.post(create_url(project), {"name": "mine", "scope": "write"}).status_code == 403
    assert client.post(revoke_url(project, key)).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and ApiKey.objects.count() == 1


def test_non_owners_see_the_list_but_no_forms(client_for, viewer, project):
    ApiKey.objects.create_key(project=project, name="visible key")
    html = client_for(viewer).get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert "visible key" in html and "Create a key" not in html and "Only owners can create" in html


def test_outsider_gets_404_on_key_management(client_for, outsider, project):
    key, _ = ApiKey.objects.create_key(project=project, name="k")
    client = client_for(outsider)
    assert client.post(create_url(project), {"name": "x", "scope": "write"}).status_code == 404
    assert client.post(revoke_url(project, key)).status_code == 404


def test_revoking_another_projects_key_is_404(client_for, owner, project, other_project):
    theirs, _ = ApiKey.objects.create_key(project=other_project, name="theirs")
    assert client_for(owner).post(revoke_url(project, theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_key_only_reaches_its_own_project(api_as, project, other_project, write_token):
    from events.models import ActivityEvent

    ActivityEvent.objects.create(project=other_project, event_type="INDEXING_STARTED", title="secret", entity_type="x")
    assert api_as(write_token).get("/feed").json()["events"] == []


def test_admin_lists_prefixes_only_and_cannot_add(client_for, staff, project):
    key, token = ApiKey.objects.create_key(project=project, name="ci", scope="write")
    client = client_for(staff)
    listing = client.get(reverse("admin:projects_apikey_changelist")).content.decode()
    change = client.get(reverse("admin:projects_apikey_change", args=[key.pk])).content.decode()
    for html in (listing, change):
        assert f"ah_{key.prefix}_…" in html
        assert key.key_hash not in html and token not in html
    assert client.get(reverse("admin:projects_apikey_add")).status_code == 403


def test_admin_revoke_action(client_for, staff, project):
    key, _ = ApiKey.objects.create_key(project=project, name="ci")
    client_for(staff).post(
        reverse("admin:projects_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_docs_page_is_served_from_our_origin(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_openapi_document_lists_every_activity_endpoint(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/actions", "/api/v1/feed", "/api/v1/insights"} <= set(paths)


def test_authenticate_returns_the_key_with_its_project_and_refuses_revoked_or_wrong_secrets(project, owner):
    key, token = ApiKey.objects.create_key(project=project, name="lookup", scope="write", created_by=owner)
    found = ApiKey.objects.authenticate(token)
    assert found.pk == key.pk and found.can_write
    assert (found.project.pk, found.project.slug, found.project.created_at) == (project.pk, project.slug, project.created_at)
    assert found.name == "lookup" and found.created_at == key.created_at  # columns left out are loaded when read
    assert found.last_used_at is None and found.revoked_at is None
    used = timezone.now()
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=used)
    assert ApiKey.objects.authenticate(token).last_used_at == used  # an aware datetime on every backend
    assert ApiKey.objects.authenticate(token[:-2] + ("xx" if not token.endswith("xx") else "yy")) is None
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert ApiKey.objects.authenticate(token) is None


def test_revoked_key_is_refused_by_the_deep_health_check_too(client, project, owner):
    key, token = ApiKey.objects.create_key(project=project, name="health", created_by=owner)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert client.get("/healthz?deep=1", headers={"Authorization": f"Bearer {token}"}).status_code == 401
