"""The audit trail streamed to disk: JSON Lines per project and UTC hour, every entry once per run (at least once
across a crash), each line with its place and hash in the chain."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from events.tracking import track_activity
from processes import jobs, scheduling

pytestmark = pytest.mark.django_db

HOUR = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_entries_go_to_one_file_per_project_and_hour_once(project, tmp_path):
    with time_machine.travel(HOUR, tick=False):
        first = track_activity(project=project, action_type="deployment", action_details="Deployed 1")
        track_activity(project=project, action_type="deployment", action_details="Deployed 2")
    call_command("stream_audit", "--once", "--dir", str(tmp_path))
    path = tmp_path / "acme-api" / "2026" / "03" / "04" / "09.jsonl"
    lines = _lines(path)
    assert [line["action_details"] for line in lines] == ["Deployed 1", "Deployed 2"]
    assert (lines[0]["sequence"], lines[0]["entry_hash"], lines[0]["project"]) == (1, first.entry_hash.hex(), "acme-api")
    assert lines[1]["prev_hash"] == lines[0]["entry_hash"]
    call_command("stream_audit", "--once", "--dir", str(tmp_path))  # nothing new: nothing appended
    assert len(_lines(path)) == 2
    with time_machine.travel(HOUR.replace(hour=10), tick=False):
        track_activity(project=project, action_type="deployment", action_details="Deployed 3")
    call_command("stream_audit", "--once", "--dir", str(tmp_path))
    assert [line["sequence"] for line in _lines(path.with_name("10.jsonl"))] == [3]


def test_the_scheduler_streams_only_when_a_directory_is_set(project, tmp_path, settings):
    settings.AUDIT_STREAM_DIR = ""
    assert "stream-audit" not in {job.name for job in scheduling.registered_jobs()}
    assert jobs.stream_audit.call() == {}
    settings.AUDIT_STREAM_DIR = str(tmp_path)
    assert "stream-audit" in {job.name for job in scheduling.registered_jobs()}
    track_activity(project=project, action_type="deployment")
    assert jobs.stream_audit.call() == {"acme-api": 1}


def test_without_a_directory_the_command_says_what_to_set(db, settings):
    settings.AUDIT_STREAM_DIR = ""
    with pytest.raises(CommandError, match="Set AUDIT_STREAM_DIR"):
        call_command("stream_audit", "--once")
