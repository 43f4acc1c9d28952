"""CSV exports neutralise spreadsheet formulas (OWASP CSV injection), on SQLite and on PostgreSQL's COPY path."""

import csv
import io

import pytest
from django.urls import reverse

from events.models.activity import ActivityEvent, EventStatus, EventType, ProjectAction

FORMULAS = ["=HYPERLINK(\"http://evil\")", "+1+2", "-2+3", "@SUM(A1)", "\tindented", "\rreturn"]


def read_csv(response):
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


@pytest.mark.parametrize("formula", FORMULAS)
def test_feed_csv_export_prefixes_formulas_with_an_apostrophe(client_for, project, viewer, formula):
    ActivityEvent.objects.create(
        project=project, event_type=EventType.INDEXING_COMPLETED, status=EventStatus.COMPLETED,
        title=formula, description=formula, entity_type=formula, entity_id=formula,
    )
    (row,) = read_csv(client_for(viewer).get(reverse("events:feed_export_csv", args=[project.slug])))
    for column in ["title", "description", "entity_type", "entity_id"]:
        assert row[column] == "'" + formula


@pytest.mark.parametrize("formula", FORMULAS)
def test_audit_csv_export_prefixes_formulas_with_an_apostrophe(client_for, project, viewer, formula):
    ProjectAction.objects.create(
        project=project, action_type="deployment", action_details=formula, environment=formula, request_id=formula,
    )
    (row,) = read_csv(client_for(viewer).get(reverse("events:audit_export_csv", args=[project.slug])))
    for column in ["action_details", "environment", "request_id"]:
        assert row[column] == "'" + formula


def test_plain_text_and_jsonl_exports_are_unchanged(client_for, project, viewer):
    ActivityEvent.objects.create(
        project=project, event_type=EventType.INDEXING_COMPLETED, status=EventStatus.COMPLETED,
        title="a - b = c", description="=SUM(A1)", entity_type="indexing", duration=12,
    )
    client = client_for(viewer)
    (row,) = read_csv(client.get(reverse("events:feed_export_csv", args=[project.slug])))
    assert row["title"] == "a - b = c" and row["duration_ms"] == "12"
    jsonl = b"".join(client.get(reverse("events:feed_export_jsonl", args=[project.slug])).streaming_content).decode()
    assert '"description":"=SUM(A1)"' in jsonl  # JSON is data, not a spreadsheet: kept as sent
