"""Admin for conversations, messages, feedback, bookmarks and chunk performance (conversations issue)."""
