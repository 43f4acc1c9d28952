def seed_conversations(context, log):
    """Conversations, messages and feedback (filled in by the conversations issue)."""
    log("  conversations: none yet")
