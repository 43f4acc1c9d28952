"""Watching from the pages a person looks at, in a real browser: a run and its workflow on the run's page, an event
that names no entity on its own page; the button says what it will do, and the preferences page lists each watch."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from events.ingest import ingest_events, validate_event
from monitoring.runs import start_run
from notifications.models import Watch
from projects.models import Membership, Role


@pytest.mark.parametrize("width", [1366, 390])
def test_a_member_watches_a_run_its_workflow_and_an_event_from_their_pages(page, live_server, login, screenshot,
                                                                           project, manager, width):
    Membership.objects.create(project=project, user=manager, role=Role.VIEWER)
    run, _ = start_run(project, run_id="nightly-17", workflow_name="nightly-backup",
                       started_at=timezone.now() - timedelta(minutes=3))
    [(event, _)] = ingest_events(project, [validate_event(event_type="INDEXING_STARTED", title="Indexing main",
                                                          entity_type="indexing")])
    page.set_viewport_size({"width": width, "height": 900})
    login(manager)

    page.goto(f"{live_server.url}/monitoring/runs/{run.pk}/")
    page.get_by_role("button", name="Watch this run").click()
    expect(page.get_by_role("button", name="Stop watching this run")).to_be_visible()
    page.get_by_role("button", name="Watch this workflow").click()
    expect(page.get_by_role("button", name="Stop watching this workflow")).to_be_visible()
    screenshot(f"watch-run-{width}")

    page.goto(f"{live_server.url}/projects/{project.slug}/activity/{event.pk}/")
    page.get_by_role("button", name="Watch this event").click()
    expect(page.get_by_role("button", name="Stop watching this event")).to_be_visible()
    assert set(Watch.objects.filter(user=manager).values_list("entity_type", "entity_id")) == {
        ("workflow_run", "nightly-17"), ("workflow", "nightly-backup"), ("activity_event", str(event.pk)),
    }

    page.goto(f"{live_server.url}/notifications/")
    listed = page.locator(f"#project-{project.slug}")
    expect(listed).to_contain_text("Run nightly-17")
    expect(listed).to_contain_text("Workflow nightly-backup")
    page.emulate_media(color_scheme="dark")
    screenshot(f"watch-preferences-{width}-dark")
    # Stopping from the list: the run is no longer watched, the others still are.
    listed.locator("li", has_text="Run nightly-17").get_by_role("button", name="Stop watching").click()
    expect(page.locator(f"#project-{project.slug}")).not_to_contain_text("Run nightly-17")
    assert not Watch.objects.filter(user=manager, entity_type="workflow_run").exists()
