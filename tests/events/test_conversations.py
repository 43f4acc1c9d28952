"""Conversation list and page, bookmarks page, and who may see what."""
# ruff: noqa: F811 — the shared fixtures are imported by name, and pytest passes them as same-named arguments.

import pytest
from django.urls import reverse

from events import feedback as acts
from events.models.messages import Bookmark, Conversation, Message
from projects.models import Membership, Project
from tests.conversation_fixtures import answer, conversation, fresh_cache, question  # noqa: F401


def test_conversation_list_shows_the_projects_conversations(client_for, project, viewer, answer):
    other = Project.objects.create(name="Other", slug="other")
    Conversation.objects.create(project=other, title="Secret plans")
    response = client_for(viewer).get(reverse("events:conversations", args=[project.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Rotating API keys" in body and "Secret plans" not in body


def test_search_finds_by_title_external_id_and_message_text(client_for, project, owner, answer):
    Conversation.objects.create(project=project, title="Billing question")
    client = client_for(owner)
    url = reverse("events:conversations", args=[project.slug])
    for query in ["rotating", "conv-1", "revoke the old"]:
        body = client.get(url, {"q": query}).content.decode()
        assert "Rotating API keys" in body and "Billing question" not in body, query
    assert "No conversation matches" in client.get(url, {"q": "nothing like this"}).content.decode()


def test_search_as_htmx_returns_only_the_results_fragment(client_for, project, owner, answer):
    response = client_for(owner).get(reverse("events:conversations", args=[project.slug]), {"q": "rotating"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body


@pytest.mark.parametrize("params", [{"q": "x" * 500}, {"page": "abc"}, {"page": "-3"}, {"page": "99999999999999999999"}])
def test_bad_list_parameters_never_fail(client_for, project, owner, answer, params):
    assert client_for(owner).get(reverse("events:conversations", args=[project.slug]), params).status_code == 200


def test_conversation_page_shows_messages_and_my_feedback_state(client_for, project, owner, answer):
    acts.rate(answer, owner, "not_helpful")
    acts.ask_for_more(answer, owner, ["examples"], "On Windows")
    acts.toggle_bookmark(answer, owner)
    response = client_for(owner).get(reverse("events:conversation", args=[project.slug, answer.conversation_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "How do I rotate a key?" in body and "revoke the old one" in body
    assert 'value="not_helpful"\n                aria-pressed="true"' in body
    assert '<span aria-hidden="true">★</span> Bookmarked' in body
    assert 'value="examples" checked' in body and "On Windows" in body
    assert "kb-keys-01" in body


def test_conversation_page_does_not_show_another_users_state(client_for, project, owner, viewer, answer):
    acts.toggle_bookmark(answer, owner)
    body = client_for(viewer).get(reverse("events:conversation", args=[project.slug, answer.conversation_id])).content.decode()
    assert '<span aria-hidden="true">★</span> Bookmarked' not in body


def test_conversation_of_another_project_is_404(client_for, project, owner, answer):
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=owner, role="owner")
    assert client_for(owner).get(reverse("events:conversation", args=["other", answer.conversation_id])).status_code == 404


def test_outsider_gets_404_on_every_conversation_page_and_action(client_for, project, outsider, answer):
    client = client_for(outsider)
    slug = project.slug
    acts.record_copy(answer, outsider)
    copy_event = answer.events.get()
    assert client.get(reverse("events:conversations", args=[slug])).status_code == 404
    assert client.get(reverse("events:conversation", args=[slug, answer.conversation_id])).status_code == 404
    assert client.get(reverse("events:quality", args=[slug])).status_code == 404
    for name, extra in [("feedback", []), ("copy", []), ("bookmark", []), ("copy_usage", [copy_event.pk])]:
        assert client.post(reverse(f"events:{name}", args=[slug, answer.pk, *extra]), {"feedback": "helpful", "usage": "share"}).status_code == 404
    assert not Bookmark.objects.exists()
    copy_event.refresh_from_db()
    assert copy_event.metadata["copyUsage"] is None


def test_bookmarks_page_lists_mine_across_projects_with_excerpt_and_link(client_for, project, owner, viewer, answer):
    other = Project.objects.create(name="Docs Assistant", slug="docs")
    Membership.objects.create(project=other, user=owner, role="viewer")
    other_conv = Conversation.objects.create(project=other, title="Docs search")
    other_answer = Message.objects.create(conversation=other_conv, role="assistant", content="Use the search box at the top.")
    acts.toggle_bookmark(answer, owner)
    acts.toggle_bookmark(other_answer, owner)
    acts.toggle_bookmark(answer, viewer)
    response = client_for(owner).get(reverse("events:bookmarks"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "revoke the old one" in body and "Use the search box" in body
    assert "Docs Assistant" in body and "Acme API" in body
    assert reverse("events:conversation", args=[project.slug, answer.conversation_id]) + f"#message-{answer.pk}" in body
    assert body.count("Remove bookmark") == 2


def test_bookmarks_of_a_project_i_left_are_hidden(client_for, project, viewer, answer):
    acts.toggle_bookmark(answer, viewer)
    Membership.objects.filter(user=viewer).delete()
    body = client_for(viewer).get(reverse("events:bookmarks")).content.decode()
    assert "revoke the old one" not in body and "No bookmarks yet" in body


def test_remove_bookmark_from_the_bookmarks_page(client_for, project, owner, answer):
    acts.toggle_bookmark(answer, owner)
    bookmark = Bookmark.objects.get()
    client = client_for(owner)
    response = client.post(reverse("events:bookmark_remove", args=[bookmark.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert not Bookmark.objects.exists()
    acts.toggle_bookmark(answer, owner)
    response = client.post(reverse("events:bookmark_remove", args=[Bookmark.objects.get().pk]))
    assert response.status_code == 302 and response["Location"] == reverse("events:bookmarks")


def test_someone_elses_bookmark_cannot_be_removed(client_for, project, owner, viewer, answer):
    acts.toggle_bookmark(answer, owner)
    bookmark = Bookmark.objects.get()
    assert client_for(viewer).post(reverse("events:bookmark_remove", args=[bookmark.pk])).status_code == 404
    assert Bookmark.objects.filter(pk=bookmark.pk).exists()


def test_bookmarks_page_needs_sign_in(client):
    response = client.get(reverse("events:bookmarks"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_admin_lists_and_searches_every_conversation_model(client_for, staff, project, owner, answer):
    acts.rate(answer, owner, "helpful")
    acts.toggle_bookmark(answer, owner)
    from events.quality import rollup_chunk_performance

    rollup_chunk_performance()
    client = client_for(staff)
    for model in ["conversation", "message", "messageevent", "bookmark", "chunkperformance", "rollupwatermark"]:
        url = reverse(f"admin:events_{model}_changelist")
        assert client.get(url).status_code == 200, model
        assert client.get(url, {"q": "kb"}).status_code == 200, model
    assert client.get(reverse("admin:events_conversation_change", args=[answer.conversation_id])).status_code == 200
