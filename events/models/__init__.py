from .activity import ActivityEvent, EventCategory, EventStatus, EventType, ProjectAction
from .audit import AuditChain
from .feeds import FeedToken
from .messages import Bookmark, ChunkPerformance, Conversation, Message, MessageEvent

__all__ = [
    "ActivityEvent",
    "AuditChain",
    "Bookmark",
    "ChunkPerformance",
    "Conversation",
    "EventCategory",
    "EventStatus",
    "EventType",
    "FeedToken",
    "Message",
    "MessageEvent",
    "ProjectAction",
]
