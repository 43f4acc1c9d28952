"""Schema-driven fuzzing: every operation in /api/v1/openapi.json, with valid and deliberately invalid data
(schemathesis' positive and negative modes), must never answer 5xx, and every answer must be what the schema
declares: a documented status code, its content type, and a body that validates against its response schema.

Derandomized with a fixed number of examples per operation, so CI runs the same ≥ 500 requests every time in
well under a minute.
"""

import math
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from events.models import ActivityEvent
from projects.models import ApiKey
from tests.api_fixtures import *  # noqa: F403

MIN_REQUESTS = 500


def _shrink_limits(node):
    if isinstance(node, dict):
        if node.get("maxItems", 0) > 5:
            node["maxItems"] = 5
        if node.get("maxLength", 0) > 300:
            node["maxLength"] = 300
        for value in node.values():
            _shrink_limits(value)
    elif isinstance(node, list):
        for value in node:
            _shrink_limits(value)


@pytest.fixture
def wsgi_app():
    """Django's WSGI app as a server runs it, minus the per-request connection closing: inside the test's
    transaction that would close the very connection the test uses (Django's own test Client does the same)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(project, owner):
    """A project with events (so PATCH sometimes finds its target) and a read-write key."""
    ActivityEvent.objects.bulk_create(
        ActivityEvent(project=project, event_type="INDEXING_STARTED", title=f"event {i}", entity_type="indexing")
        for i in range(30)
    )
    return ApiKey.objects.create_key(project=project, name="fuzz", scope="write", created_by=owner)[1]


CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.fuzz
def test_every_generated_request_gets_a_declared_answer_and_never_a_server_error(fuzz_key, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)
    # Generate small instances (batches of ≤ 5, strings of ≤ 300 characters): a 1,000-item batch or a 100 kB
    # string costs Hypothesis seconds to build and says nothing the unit tests of the limits don't already.
    _shrink_limits(schema.raw_schema)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    assert len(operations) >= 5
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    per_run = max(10, math.ceil(MIN_REQUESTS * 1.1 / (len(operations) * len(modes))))
    sent: list[int] = []
    failures: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {fuzz_key}"}

    for operation in operations:
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=per_run,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported with its request
            )
            def fuzz(case):
                response = case.call(headers=headers)
                sent.append(response.status_code)
                try:
                    case.validate_response(response, checks=CONFORMANCE, headers=headers)
                except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' failures (grouped)
                    problems = getattr(exc, "exceptions", [exc])
                    for problem in problems:
                        kind = f"{case.operation.label} → {response.status_code}: {type(problem).__name__}"
                        failures.setdefault(kind, f"{problem!s:.400} (e.g. {case.formatted_path} {case.body!r:.150})")

            fuzz()

    assert not failures, "\n\n".join(f"{kind}\n{example}" for kind, example in failures.items())
    assert len(sent) >= MIN_REQUESTS
    # The fuzzing reached the code, not just the authentication in front of it.
    assert sum(1 for status in sent if status < 300) >= 50
    assert sum(1 for status in sent if status in (400, 404, 409, 413, 422)) >= 50
