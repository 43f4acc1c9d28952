"""Answer quality: the chunk-performance rollup, content gaps, the jobs' commands and tasks, the quality page."""
# ruff: noqa: F811 — the shared fixtures are imported by name, and pytest passes them as same-named arguments.

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from events import feedback as acts
from events.models.messages import ChunkPerformance, Conversation, Message, MessageEvent, RollupWatermark
from events.quality import (
    aggregate_content_gaps_task,
    content_gaps,
    rollup_chunk_performance,
    rollup_chunk_performance_task,
)
from projects.models import Project
from tests.conversation_fixtures import answer, conversation, fresh_cache, question  # noqa: F401


def counts(project=None):
    rows = ChunkPerformance.objects.all() if project is None else ChunkPerformance.objects.for_project(project)
    return {
        c.chunk_id: (c.times_used, c.helpful_count, c.not_helpful_count, c.needs_scripts_count, c.needs_examples_count,
                     c.needs_steps_count, c.needs_case_study_count, c.copy_to_use_now_count, round(c.satisfaction_rate, 3))
        for c in rows
    }


@pytest.fixture
def feedback_given(project, owner, editor, viewer, answer):
    acts.rate(answer, owner, "helpful")
    acts.rate(answer, editor, "helpful")
    acts.rate(answer, viewer, "not_helpful")
    acts.ask_for_more(answer, viewer, ["scripts", "case_study"], "Our CI is Jenkins")
    acts.record_copy_usage(acts.record_copy(answer, owner), "use_now")
    acts.record_copy_usage(acts.record_copy(answer, editor), "share")
    return answer


def test_rollup_counts_each_kind_and_computes_satisfaction(project, feedback_given):
    rollup_chunk_performance()
    expected = (1, 2, 1, 1, 0, 0, 1, 1, 0.667)
    assert counts() == {"kb-keys-01": expected, "kb-keys-02": expected}


def test_rerunning_rollup_does_not_double_count(project, feedback_given):
    first = rollup_chunk_performance()
    after_first = counts()
    second = rollup_chunk_performance()
    third = rollup_chunk_performance(full=True)
    assert counts() == after_first
    assert (first["mode"], second["mode"], third["mode"]) == ("full", "incremental", "full")
    assert ChunkPerformance.objects.count() == 2


def test_rollup_is_incremental_from_the_watermark(project, owner, feedback_given, conversation):
    rollup_chunk_performance()
    # Age everything rolled up so far, as if the last run was an hour ago.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    MessageEvent.objects.update(updated_at=an_hour_ago - timedelta(minutes=10))
    Message.objects.update(created_at=an_hour_ago - timedelta(minutes=10))
    RollupWatermark.objects.update(processed_until=an_hour_ago)
    assert rollup_chunk_performance()["chunks_recomputed"] == 0

    other = Message.objects.create(conversation=conversation, role="assistant", content="Other", chunk_ids=["kb-other"])
    acts.rate(other, owner, "helpful")
    RollupWatermark.objects.update(processed_until=an_hour_ago)
    summary = rollup_chunk_performance()
    assert (summary["mode"], summary["chunks_recomputed"]) == ("incremental", 1)
    assert counts()["kb-other"][:3] == (1, 1, 0)
    assert counts()["kb-keys-01"][:3] == (1, 2, 1)


def test_switching_a_rating_and_answering_copy_usage_later_are_rolled_up(project, owner, answer):
    acts.rate(answer, owner, "helpful")
    copy = acts.record_copy(answer, owner)
    rollup_chunk_performance()
    assert counts()["kb-keys-01"][1:3] == (1, 0) and counts()["kb-keys-01"][7] == 0
    acts.rate(answer, owner, "not_helpful")
    acts.record_copy_usage(copy, "use_now")
    rollup_chunk_performance()
    assert counts()["kb-keys-01"][1:3] == (0, 1)
    assert counts()["kb-keys-01"][7] == 1
    assert counts()["kb-keys-01"][8] == 0.0


def test_chunk_performance_is_per_project(project, owner, answer):
    other = Project.objects.create(name="Other", slug="other")
    theirs = Message.objects.create(conversation=Conversation.objects.create(project=other, title="t"),
                                    role="assistant", content="x", chunk_ids=["kb-keys-01"])
    acts.rate(answer, owner, "helpful")
    acts.rate(theirs, owner, "not_helpful")
    rollup_chunk_performance()
    assert counts(project)["kb-keys-01"][1:3] == (1, 0)
    assert counts(other)["kb-keys-01"][1:3] == (0, 1)


def test_clean_slate_refuses_without_yes_and_deletes_only_message_events_with_it(project, feedback_given):
    rollup_chunk_performance()
    with pytest.raises(CommandError, match="Re-run with --yes"):
        call_command("clean_slate_message_events", stdout=StringIO())
    assert MessageEvent.objects.count() == 6
    out = StringIO()
    call_command("clean_slate_message_events", "--yes", stdout=out)
    text = out.getvalue()
    assert "user_message: 4" in text and "copy: 2" in text and "Deleted 6 message events" in text
    assert not MessageEvent.objects.exists()
    assert Message.objects.filter(pk=feedback_given.pk).exists() and Conversation.objects.exists()
    # Derived counts follow: nothing is helpful any more, the chunk is still used by the answer.
    assert counts()["kb-keys-01"] == (1, 0, 0, 0, 0, 0, 0, 0, 0.0)


def test_clean_slate_for_one_project_leaves_the_others(project, owner, answer):
    other = Project.objects.create(name="Other", slug="other")
    theirs = Message.objects.create(conversation=Conversation.objects.create(project=other, title="t"), role="assistant", content="x")
    acts.rate(answer, owner, "helpful")
    acts.rate(theirs, owner, "helpful")
    call_command("clean_slate_message_events", "--yes", "--project", "other", stdout=StringIO())
    assert list(MessageEvent.objects.values_list("message_id", flat=True)) == [answer.pk]


def test_rollup_command_once_and_task(project, feedback_given):
    out = StringIO()
    call_command("rollup_chunk_performance", "--once", stdout=out)
    assert "full rollup: 2 chunks recomputed" in out.getvalue()
    result = rollup_chunk_performance_task.call()
    assert result["mode"] == "incremental"
    assert counts()["kb-keys-01"][1] == 2


def test_tasks_can_be_enqueued_on_the_database_backend(project):
    from django_tasks_db.models import DBTaskResult

    result = rollup_chunk_performance_task.enqueue(full=True)
    aggregate_content_gaps_task.enqueue(days=7)
    assert DBTaskResult.objects.filter(id=result.id).exists()
    assert DBTaskResult.objects.count() == 2


def test_content_gaps_rank_messages_chunks_and_reasons(project, owner, editor, viewer, conversation, feedback_given):
    weak = Message.objects.create(conversation=conversation, role="assistant", content="Weak answer", chunk_ids=["kb-weak"])
    acts.rate(weak, owner, "not_helpful")
    acts.ask_for_more(weak, owner, ["scripts"], "")
    acts.ask_for_more(weak, editor, ["examples"], "Kubernetes")
    gaps = content_gaps(project)
    assert gaps["feedback_count"] == 5
    assert [(m["message_id"], m["need_more"], m["not_helpful"]) for m in gaps["messages"]] == [
        (weak.pk, 2, 1), (feedback_given.pk, 1, 1)]
    assert gaps["chunks"][0] == {"chunk_id": "kb-weak", "need_more": 2, "not_helpful": 1, "total": 3}
    assert {r["reason"]: r["count"] for r in gaps["reasons"]} == {"scripts": 2, "examples": 1, "case_study": 1}
    assert {s["text"] for s in gaps["situations"]} == {"Kubernetes", "Our CI is Jenkins"}


def test_content_gaps_ignore_old_feedback_and_other_projects(project, owner, answer):
    event = acts.ask_for_more(answer, owner, ["steps"])
    MessageEvent.objects.filter(pk=event.pk).update(timestamp=timezone.now() - timedelta(days=40))
    assert content_gaps(project)["feedback_count"] == 0
    assert content_gaps(project, days=60)["feedback_count"] == 1
    other = Project.objects.create(name="Other", slug="other")
    assert content_gaps(other, days=60)["feedback_count"] == 0


def test_content_gaps_command_prints_text_and_json(project, feedback_given):
    out = StringIO()
    call_command("aggregate_content_gaps", "--project", project.slug, stdout=out)
    assert "2 gap feedback" in out.getvalue() and "wants scripts: 1" in out.getvalue()
    out = StringIO()
    call_command("aggregate_content_gaps", "--json", stdout=out)
    assert '"feedback_count": 2' in out.getvalue()
    with pytest.raises(CommandError, match="No project"):
        call_command("aggregate_content_gaps", "--project", "nope", stdout=StringIO())
    result = aggregate_content_gaps_task.call(days=30)
    assert result[project.slug]["feedback_count"] == 2


def test_quality_page_shows_counts_per_message_chunks_and_gaps(client_for, project, viewer, feedback_given):
    rollup_chunk_performance()
    response = client_for(viewer).get(reverse("events:quality", args=[project.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Feedback per answer" in body and "revoke the old one" in body
    assert "kb-keys-01" in body and "67%" in body
    assert "Case study" in body and "Our CI is Jenkins" in body


def test_quality_chunk_table_sorts_and_answers_htmx_with_the_fragment(client_for, project, owner, conversation):
    for i, chunk in enumerate(["kb-a", "kb-b", "kb-c"]):
        for _ in range(i + 1):
            Message.objects.create(conversation=conversation, role="assistant", content="x", chunk_ids=[chunk])
    rollup_chunk_performance()
    client = client_for(owner)
    url = reverse("events:quality", args=[project.slug])
    body = client.get(url, {"sort": "times_used"}).content.decode()
    assert body.index("kb-a") < body.index("kb-b") < body.index("kb-c")
    fragment = client.get(url, {"sort": "-times_used"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="chunks"')
    assert fragment.index("kb-c") < fragment.index("kb-b") < fragment.index("kb-a")
    assert 'aria-sort="descending"' in fragment
    # An unknown sort falls back to the default instead of failing.
    assert client.get(url, {"sort": "password; DROP TABLE"}).status_code == 200


def test_feedback_counts_per_message_come_from_the_fk(project, owner, viewer, answer):
    acts.rate(answer, owner, "helpful")
    acts.rate(answer, viewer, "not_helpful")
    acts.ask_for_more(answer, viewer, ["steps"])
    # An event that only names the message in metadata (how older clients sent it) is not counted.
    MessageEvent.objects.create(conversation=answer.conversation, event_type="user_message", feedback="helpful",
                                metadata={"messageId": answer.pk})
    row = Message.objects.with_feedback_counts().get(pk=answer.pk)
    assert (row.helpful_count, row.not_helpful_count, row.need_more_count) == (1, 1, 1)


def test_rollup_and_gaps_tolerate_odd_json_written_outside_the_app(project, owner, answer):
    # Rows written by hand (admin, SQL): chunk ids not a list, a chunk listed twice, reasons not a list.
    conv = answer.conversation
    MessageEvent.objects.create(message=answer, conversation=conv, event_type="user_message", feedback="helpful",
                                chunk_ids={"not": "a list"})
    MessageEvent.objects.create(message=answer, conversation=conv, event_type="user_message", feedback="not_helpful",
                                chunk_ids=["kb-dup", "kb-dup"])
    MessageEvent.objects.create(message=answer, conversation=conv, event_type="user_message", feedback="need_more",
                                chunk_ids=["kb-dup"], metadata={"needsMore": "scripts", "specificSituation": 42})
    MessageEvent.objects.create(message=answer, conversation=conv, event_type="copy", chunk_ids=["kb-dup"], metadata=["odd"])
    rollup_chunk_performance()
    assert counts()["kb-dup"][:4] == (0, 0, 1, 0)
    gaps = content_gaps(project)
    assert gaps["chunks"] == [{"chunk_id": "kb-dup", "need_more": 1, "not_helpful": 1, "total": 2}]
    assert gaps["reasons"] == [] and gaps["situations"] == []


def test_quality_page_reads_cached_gaps_and_the_job_refreshes_them(client_for, project, owner, answer):
    url = reverse("events:quality", args=[project.slug])
    client = client_for(owner)
    assert "No gaps reported" in client.get(url).content.decode()
    acts.ask_for_more(answer, owner, ["steps"], "Air-gapped cluster")
    # Cached for a few minutes: the new feedback shows once the job (or the cache's expiry) refreshes it.
    assert "Air-gapped cluster" not in client.get(url).content.decode()
    call_command("aggregate_content_gaps", stdout=StringIO())
    assert "Air-gapped cluster" in client.get(url).content.decode()


def test_clean_slate_is_recorded_in_each_projects_audit_trail(project, feedback_given):
    from events.models import ProjectAction

    call_command("clean_slate_message_events", "--yes", stdout=StringIO())
    entry = ProjectAction.objects.get(project=project, action_type="message_events_cleared")
    assert entry.get_action_type_display() == "Answer feedback cleared"
    assert entry.actor_label == "a management command" and entry.source == "witnessed"
    assert "6 answer feedback events removed" in entry.action_details
    assert "4 user message" in entry.action_details and "2 copy" in entry.action_details
