"""One vocabulary across the API for how something ends: IN_PROGRESS, COMPLETED, FAILED (and CANCELLED, which
only workflow runs use). Requests may use the other words people reach for, in any letter case; responses always
use these.

    canonical_status("success")   # "COMPLETED"
    stored_status("COMPLETED", RUN_WORDS)   # "SUCCESS": what the runs table keeps (the table's own word)

The tables keep the words their design notes give them (events COMPLETED, runs SUCCESS, audit actions success);
only the API's words are unified, here, in one place.
"""

IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"
CANONICAL = (IN_PROGRESS, COMPLETED, FAILED, CANCELLED)

# Also accepted in requests: the runs' and the audit trail's words, and the usual spellings.
ALIASES = {"SUCCESS": COMPLETED, "SUCCEEDED": COMPLETED, "SUCCESSFUL": COMPLETED, "RUNNING": IN_PROGRESS,
           "STARTED": IN_PROGRESS, "FAILURE": FAILED, "CANCELED": CANCELLED}

ALIAS_NOTE = ("Accepted in any letter case, with aliases: SUCCESS (or SUCCEEDED) for COMPLETED, RUNNING for "
              "IN_PROGRESS, CANCELED for CANCELLED. Responses always use COMPLETED, FAILED, IN_PROGRESS and CANCELLED.")

# Stored word of each canonical word, per table.
RUN_WORDS = {IN_PROGRESS: "RUNNING", COMPLETED: "SUCCESS", FAILED: "FAILED", CANCELLED: "CANCELLED"}
ACTION_WORDS = {IN_PROGRESS: "in_progress", COMPLETED: "success", FAILED: "failed"}


def canonical_status(value):
    """A status word from a request (or a stored one) as the API's word; anything else is returned unchanged, so
    the schema's own validation says what is allowed."""
    if not isinstance(value, str):
        return value
    word = value.strip().upper()
    return ALIASES.get(word, word)


def stored_status(value: str, words: dict[str, str]) -> str:
    """The table's own word for an API word (after canonical_status)."""
    return words[value]


def aliases_schema(allowed) -> dict:
    """An OpenAPI extension listing the aliases of the allowed words (x-aliases), for the generated document."""
    return {"x-aliases": {alias: word for alias, word in ALIASES.items() if word in allowed}}
