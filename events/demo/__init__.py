"""Demo data for the events app, one function per family; activityhub's demo_data command calls them."""

from .activity import seed_activity
from .conversations import seed_conversations

__all__ = ["seed_activity", "seed_conversations"]
