from django import template

from notifications import watching

register = template.Library()


@register.filter
def watch_noun(entity_type: str) -> str:
    """The word for what a watch follows: "session" for apr_session, "run" for a workflow run."""
    return watching.noun(entity_type)
