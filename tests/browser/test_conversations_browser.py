"""A person reads a conversation, rates an answer, asks for more, copies it, bookmarks it, finds it in Bookmarks."""

from playwright.sync_api import expect

from events.models.messages import Bookmark, Conversation, Message, MessageEvent
from events.quality import rollup_chunk_performance
from tests.conversation_fixtures import fresh_cache  # noqa: F401


def test_feedback_copy_and_bookmark_then_see_it_on_the_bookmarks_page(page, live_server, login, screenshot, project, owner):
    conversation = Conversation.objects.create(project=project, title="Rotating API keys", external_id="chat-1")
    Message.objects.create(conversation=conversation, role="user", content="How do I rotate a key without downtime?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", chunk_ids=["kb-keys-01"],
        content="Create a second key, deploy it everywhere, then revoke the old one.\nBoth work until you revoke.",
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login(owner)
    page.goto(f"{live_server.url}/projects/{project.slug}/conversations/")
    page.get_by_role("searchbox", name="Search conversations").fill("rotat")
    page.get_by_role("link", name="Rotating API keys").click()
    actions = page.locator(f"#actions-{answer.pk}")

    # Rate, then change our mind: the pressed state moves, one rating is stored.
    actions.get_by_role("button", name="Helpful", exact=True).click()
    expect(actions.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    actions.get_by_role("button", name="Not helpful").click()
    expect(actions.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    expect(actions.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "false")

    # Need more, with reasons and the situation.
    actions.get_by_text("Need more?").click()
    actions.get_by_label("Scripts").check()
    actions.get_by_label("Case study").check()
    actions.get_by_label("Your specific situation").fill("We deploy with GitHub Actions")
    actions.get_by_role("button", name="Send").click()
    expect(actions.get_by_role("status")).to_have_text("Thanks: we noted what would help.")

    # Copy: the text lands on the clipboard, then the page asks how it will be used.
    actions.get_by_role("button", name="Copy").click()
    expect(actions.get_by_text("Copied. How will you use it?")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == answer.content
    screenshot("conversation-copy-question")
    actions.get_by_label("Use it now").check()
    actions.get_by_role("button", name="Save").click()
    expect(actions.get_by_role("status")).to_have_text("Noted: use it now.")

    actions.get_by_role("button", name="Bookmark").click()
    expect(actions.get_by_role("button", name="Bookmarked")).to_have_attribute("aria-pressed", "true")
    screenshot("conversation-feedback-given")

    events = MessageEvent.objects.filter(message=answer, user=owner)
    assert sorted(events.feedback().values_list("feedback", flat=True)) == ["need_more", "not_helpful"]
    copy = events.copies().get()
    assert copy.metadata["copyUsage"] == "use_now"
    assert events.filter(event_type="bookmark").count() == 1

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bookmarks").click()
    bookmark = page.locator(".bookmark")
    expect(bookmark).to_have_count(1)
    expect(bookmark).to_contain_text("Create a second key")
    expect(bookmark.get_by_role("link", name="Rotating API keys")).to_have_attribute(
        "href", f"/projects/{project.slug}/conversations/{conversation.pk}/#message-{answer.pk}")
    screenshot("bookmarks-page")
    bookmark.get_by_role("button", name="Remove bookmark").click()
    expect(bookmark).to_have_count(0)
    assert not Bookmark.objects.exists()

    # The feedback shows on the answer-quality page once the rollup has run.
    rollup_chunk_performance()
    page.goto(f"{live_server.url}/projects/{project.slug}/quality/")
    chunks = page.locator("#chunks")
    expect(chunks.locator("tbody tr")).to_have_count(1)
    expect(chunks.locator("tbody tr")).to_contain_text("kb-keys-01")
    chunks.get_by_role("link", name="Not helpful").click()
    expect(chunks.locator("th[aria-sort=descending]")).to_contain_text("Not helpful")
    assert "sort=-not_helpful_count" in page.url
    screenshot("answer-quality")
