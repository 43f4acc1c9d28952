"""Demo data for the events app, one function per family; activityhub's demo_data command calls them."""

from .activity import add_demo_activity
from .conversations import add_demo_conversations

__all__ = ["add_demo_activity", "add_demo_conversations"]
