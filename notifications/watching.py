"""What a watch is called on the page: "Watch this session", "Stop watching this workflow".

A watch names one thing of a project by `entity_type` + `entity_id`: an entity of the activity feed (the types the
API's clients send, e.g. `apr_session`), or one of the kinds below that the app itself names.
"""

# Kinds of watch the app names itself (an API client's own entity types are any other snake_case word).
WORKFLOW = "workflow"  # entity_id: the workflow's name (every environment)
WORKFLOW_RUN = "workflow_run"  # entity_id: the run's run_id
ACTIVITY_EVENT = "activity_event"  # entity_id: the event's id, for an event that names no entity of its own

# The word a person uses for each kind; another type reads as its own words ("code_review" → "code review").
NOUNS = {
    WORKFLOW: "workflow",
    WORKFLOW_RUN: "run",
    ACTIVITY_EVENT: "event",
    "apr_session": "session",
    "auto_fix": "auto-fix",
    "indexing": "indexing job",
    "chat_message": "chat message",
    "codegen": "code generation",
}


def noun(entity_type: str) -> str:
    return NOUNS.get(entity_type) or entity_type.replace("_", " ").strip() or "thing"
