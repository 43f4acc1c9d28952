"""The audit trail is tamper-evident: each project's entries form a hash chain, and verify_audit names the first
entry edited, deleted or inserted by hand (raw SQL, as in psql), on SQLite and on PostgreSQL."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import close_old_connections, connection

from events.audit import verify
from events.models import AuditChain, ProjectAction
from events.retention import prune_activity
from events.tracking import track_activity
from monitoring.models import NotificationLog
from processes import jobs
from projects.audit import Actor, acting_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(project, owner):
    with acting_as(Actor.for_user(owner, address="192.0.2.7")):
        return [track_activity(project=project, action_type="deployment", action_details=f"Deploy {n}")
                for n in range(1, 6)]


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def found(project_pk):
    """The problem verify() names; failing the test when it names none."""
    problem = verify(project_pk)
    assert problem is not None, "verify() found the chain intact"
    return problem


def _verify_command(*args):
    out, err = StringIO(), StringIO()
    status: str | int | None
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exit:
        status = exit.code
    return status, out.getvalue() + err.getvalue()


def test_entries_form_a_chain_and_verify(trail, project):
    assert [a.sequence for a in trail] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.entry_hash for a, b in zip(trail, trail[1:], strict=False))
    assert verify(project.pk) is None
    status, output = _verify_command("--project", project.slug)
    assert status == 0 and "5 entries, chain intact" in output


def test_an_update_by_hand_names_the_edited_entry(trail, project):
    _sql("UPDATE project_actions SET action_details = %s WHERE action_id = %s", ["Nothing to see", trail[2].action_id])
    problem = found(project.pk)
    assert (problem.kind, problem.sequence, problem.action_id) == ("edited", 3, trail[2].action_id)
    status, output = _verify_command()
    assert status == 1 and "Entry #3 (deployment" in output and "was edited" in output


def test_changing_the_actor_by_hand_is_caught_too(trail, project):
    _sql("UPDATE project_actions SET client_address = %s WHERE action_id = %s", ["10.0.0.1", trail[0].action_id])
    assert found(project.pk).kind == "edited"


def test_a_delete_by_hand_names_the_gap(trail, project):
    _sql("DELETE FROM project_actions WHERE action_id = %s", [trail[1].action_id])
    problem = found(project.pk)
    assert (problem.kind, problem.sequence) == ("deleted", 2)
    assert "1 entry (#2) deleted after entry #1" in problem.sentence


def test_deleting_the_newest_entries_is_caught_by_the_signed_head(trail, project):
    _sql("DELETE FROM project_actions WHERE action_id IN (%s, %s)", [trail[3].action_id, trail[4].action_id])
    problem = found(project.pk)
    assert problem.kind == "deleted" and "The newest 2 entries (#4–#5)" in problem.sentence


def test_an_insert_by_hand_is_named(trail, project):
    forged = uuid.uuid4().hex[:20]
    _sql("INSERT INTO project_actions (action_id, project_id, action_type, action_details, status, environment, "
         "created_at, source, actor_type, actor_label, actor_key_prefix, user_agent, target_type, target_id, changes, "
         "prev_hash, entry_hash) VALUES (%s, %s, 'member_added', 'mallory added as owner', 'success', 'production', "
         "%s, 'witnessed', 'user', 'olivia', '', '', 'member', 'mallory', '{}', '', '')",
         [forged, project.pk, datetime.now(UTC)])
    problem = found(project.pk)
    assert (problem.kind, problem.action_id) == ("inserted", forged)
    status, output = _verify_command("--project", project.slug)
    assert status == 1 and forged in output and "inserted out of band" in output


def test_an_insert_that_copies_a_place_in_the_chain_is_named(trail, project):
    forged = uuid.uuid4().hex[:20]
    _sql("INSERT INTO project_actions (action_id, project_id, action_type, action_details, status, environment, "
         "created_at, source, actor_type, actor_label, actor_key_prefix, user_agent, target_type, target_id, changes, "
         "sequence, prev_hash, entry_hash) SELECT %s, project_id, action_type, 'forged', status, environment, "
         "created_at, source, actor_type, actor_label, actor_key_prefix, user_agent, target_type, target_id, changes, "
         "sequence + 0, prev_hash, entry_hash FROM project_actions WHERE action_id = %s", [forged, trail[2].action_id])
    problem = found(project.pk)
    assert problem.kind in ("inserted", "edited") and problem.sequence == 3


def test_rewriting_the_head_by_hand_breaks_its_signature(trail, project):
    AuditChain.objects.filter(chain=project.pk).update(last_sequence=4)
    assert found(project.pk).kind == "signature"


def test_unknown_project_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No project with the slug 'nope'"):
        call_command("verify_audit", "--project", "nope")


def test_retention_keeps_the_chain_verifiable_and_records_itself(project, settings):
    now = datetime.now(UTC)
    project.retention_days = 30
    project.save(update_fields=["retention_days"])
    with time_machine.travel(now - timedelta(days=60), tick=False):
        old = [ProjectAction.objects.create(project=project, action_type="deployment", action_details=f"old {n}")
               for n in range(3)]
    with time_machine.travel(now, tick=False):
        kept = ProjectAction.objects.create(project=project, action_type="deployment", action_details="new")
        plan = prune_activity(now=now)
    assert plan.rows >= 3 and not ProjectAction.objects.filter(pk__in=[a.pk for a in old]).exists()
    head = AuditChain.objects.get(chain=project.pk)
    assert (head.start_sequence, head.start_prev_hash) == (kept.sequence, kept.prev_hash)
    assert verify(project.pk) is None
    pruned = ProjectAction.objects.get(action_type="retention_pruned")
    assert (pruned.actor_type, pruned.actor_label, pruned.source) == ("system", "retention pruning", "witnessed")
    assert pruned.changes == {"audit_actions_removed": 3}
    # The signed start cannot be moved by hand to hide a deletion.
    AuditChain.objects.filter(chain=project.pk).update(start_sequence=head.start_sequence + 1)
    assert found(project.pk).kind == "signature"


def test_the_daily_job_alerts_the_monitoring_channels_once(trail, project, settings):
    settings.MONITORING_NOTIFICATIONS = [{"channel": "webhook", "target": "http://127.0.0.1:9/alerts"}]
    assert jobs.verify_audit.call() == {"broken": {}}
    _sql("UPDATE project_actions SET action_details = 'x' WHERE action_id = %s", [trail[0].action_id])
    result = jobs.verify_audit.call()
    assert "project acme-api" in result["broken"]
    jobs.verify_audit.call()
    alert = NotificationLog.objects.get()
    assert alert.notification_type == "audit_tampered" and "Entry #1" in alert.text
    assert alert.subject == "Audit trail of project acme-api was changed by hand"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_line_up_in_one_chain(project):
    errors = []

    def write(n):
        try:
            for i in range(10):
                track_activity(project=project, action_type="deployment", action_details=f"writer {n} #{i}")
        except Exception as exc:  # the assertion below names it
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = sorted(n for n in ProjectAction.objects.filter(project=project).values_list("sequence", flat=True) if n is not None)
    assert sequences == list(range(1, 41))
    assert verify(project.pk) is None
