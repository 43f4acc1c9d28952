"""Fixtures for the API tests: keys of each scope and a JSON client that sends them.

Import with `from tests.api_fixtures import *` (fixtures must be names in the test module).
"""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from projects.models import ApiKey, Project

__all__ = ["api_as", "fresh_rate_limit", "other_project", "read_token", "write_token"]


@pytest.fixture(autouse=True)
def fresh_rate_limit(settings):
    # Rate-limit counters live in the cache, keyed by key id; ids repeat between tests, counters must not.
    settings.API_RATE_LIMIT = "100000/min"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def write_token(project, owner):
    return ApiKey.objects.create_key(project=project, name="ci", scope="write", created_by=owner)[1]


@pytest.fixture
def read_token(project, owner):
    return ApiKey.objects.create_key(project=project, name="dashboards", scope="read", created_by=owner)[1]


@pytest.fixture
def other_project(outsider):
    return Project.objects.create(name="Other", slug="other", created_by=outsider)


class ApiClient:
    """Django's test client speaking JSON with a bearer token; `.json` on responses is parsed for you."""

    def __init__(self, token):
        self.client = Client()
        self.token = token

    def _headers(self, headers):
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**base, **(headers or {})}

    def request(self, method, path, body=None, *, raw=None, headers=None, **query):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        url = "/api/v1" + path
        call = getattr(self.client, method)
        if method == "get":
            return call(url, query, headers=self._headers(headers))
        return call(url, data, content_type="application/json", headers=self._headers(headers))

    def get(self, path, headers=None, **query):
        return self.request("get", path, headers=headers, **query)

    def post(self, path, body=None, **kw):
        return self.request("post", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("patch", path, body, **kw)


@pytest.fixture
def api_as():
    """api_as(token) → ApiClient; api_as(None) sends no Authorization header."""
    return ApiClient
