"""Shared fixtures for the conversation tests: a conversation with one question and one cited answer."""

import pytest
from django.core.cache import cache

from events.models.messages import Conversation, Message


@pytest.fixture
def conversation(project, owner):
    return Conversation.objects.create(project=project, title="Rotating API keys", external_id="conv-1", user=owner)


@pytest.fixture
def question(conversation):
    return Message.objects.create(conversation=conversation, role="user", content="How do I rotate a key?")


@pytest.fixture
def answer(conversation, question):
    return Message.objects.create(
        conversation=conversation, role="assistant", content="Create a second key, deploy it, revoke the old one.",
        chunk_ids=["kb-keys-01", "kb-keys-02"],
    )


@pytest.fixture(autouse=True)
def fresh_cache():
    # The quality page caches content gaps per project id; ids repeat between tests, cached reports must not.
    cache.clear()
    yield
    cache.clear()
