"""The replica router's configuration, without a replica (tests/activityhub/test_replica.py runs against a real one)."""

import os

import pytest
from django.urls import get_resolver

from activityhub import db_router


def url_names(resolver, prefix=""):
    names = set()
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= url_names(pattern, namespace)
            if pattern.namespace:
                names.add(f"{namespace}*")
        elif pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_lag_tolerant_view_name_is_a_real_url_name():
    assert url_names(get_resolver()) >= db_router.LAG_TOLERANT


def test_the_feed_is_lag_tolerant_and_project_settings_are_not():
    names = url_names(get_resolver())
    assert "events:feed" in db_router.LAG_TOLERANT
    assert "projects:settings" in names and "projects:settings" not in db_router.LAG_TOLERANT


@pytest.mark.skipif(bool(os.environ.get("DATABASE_REPLICA_URL")), reason="about a set-up without replicas")
@pytest.mark.django_db
def test_without_replicas_a_write_sets_no_read_primary_cookie(client_for, owner, project):
    client = client_for(owner)
    response = client.post(f"/projects/{project.slug}/settings/api-keys/", {"name": "deploys", "scope": "read"})
    assert response.status_code == 201
    assert db_router.STICKY_COOKIE not in response.cookies
