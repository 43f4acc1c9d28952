"""One vocabulary across the API for how something ends: IN_PROGRESS, COMPLETED, FAILED (and CANCELLED, which
only workflow runs use). Requests may use the other words people reach for, in any letter case; responses always
use these.

    canonical_status("success")   # "COMPLETED"
    stored_status("COMPLETED", RUN_WORDS)   # "SUCCESS": what the runs table keeps (the table's own word)
    table_word("Completed", ACTION_WORDS)   # "success": a request's word (or alias) as a table keeps it
    unknown_word("DONE", ("IN_PROGRESS", "COMPLETED", "FAILED"))   # the 4xx message naming the accepted words

Every place a status word comes in (event and run writes, audit actions, the activity feed's and the audit log's
?status= filters, notification subscriptions' event_status and action_status) reads it through this module.

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


def table_word(value, words: dict[str, str]):
    """A request's word (an API word, an alias, or the table's own word, in any letter case) as the table keeps
    it; anything else is returned unchanged, so the validation that follows says what is allowed."""
    if not isinstance(value, str):
        return value
    return words.get(canonical_status(value), value)


def _either(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def accepted_words(allowed) -> str:
    """'IN_PROGRESS, COMPLETED or FAILED (also SUCCESS, SUCCEEDED, …)': the words a request may use."""
    allowed = [word for word in CANONICAL if word in allowed]
    aliases = [alias for alias, word in ALIASES.items() if word in allowed]
    return _either(allowed) + (f" (also {', '.join(aliases)})" if aliases else "")


def unknown_word(value, allowed) -> str:
    """What a 4xx says about a status word that is none of the allowed ones (nor their aliases)."""
    return f"“{value}” is not a status word here: use {accepted_words(allowed)}, in any letter case."
