"""The one message renderer: one alert or notification, as every channel shows it.

    message = render(Notice(...))        # an outbound.Message with every form filled in
    message.subject, message.text, message.html, message.email_headers    # the e-mail
    slack_payload(message)               # the Slack payload: text and blocks (outbound.delivery)
    webhook_envelope(message, created)   # the webhook JSON: the sentence beside the machine codes

A Notice is what an app knows about what happened, in words: the sentence a manager would write ("Auto-fix failed
on session apr-w3 in Acme API, 4 min after it started"), further sentences, who did it, and absolute links to the
thing and to where the reader manages their notifications (and, for a member, a one-click unsubscribe). The
codes (event type, status, ids) travel in `data` beside the words; nothing here knows the apps' models.
E-mail carries List-Unsubscribe (the unsubscribe link, else the manage link) and, when the link unsubscribes in
one click, List-Unsubscribe-Post (RFC 8058).
"""

import json
from dataclasses import dataclass, field

from django.template.loader import render_to_string

from .delivery import Message
from .models import Delivery


@dataclass(frozen=True)
class Notice:
    event_type: str  # the machine code: "activity.failed", "workflow_failed", …
    sentence: str  # what happened, for a person, without a final full stop
    delivery_id: str
    details: tuple[str, ...] = ()  # further sentences
    actor: str = ""  # who did it ("ada", "the scheduler"); "" when nobody in particular
    event_url: str = ""  # absolute
    manage_url: str = ""  # absolute: where the reader changes what they get
    unsubscribe_url: str = ""  # absolute, one click (POST) stops these messages
    data: dict = field(default_factory=dict)  # the machine codes (the webhook's `data`)


def links_of(notice: Notice) -> dict:
    return {name: url for name, url in (("event", notice.event_url), ("manage", notice.manage_url),
                                        ("unsubscribe", notice.unsubscribe_url)) if url}


def text_of(notice: Notice) -> str:
    """The plain-text body: the sentence, the details, who, then the links."""
    lines = [f"{notice.sentence}.", *notice.details]
    if notice.actor:
        lines.append(f"By {notice.actor}.")
    links = [f"Open it: {notice.event_url}"] if notice.event_url else []
    if notice.manage_url:
        links.append(f"Manage your notifications: {notice.manage_url}")
    if links:  # a blank line between the words and the links
        lines += ["", *links]
    return "\n".join(lines).strip()


def blocks_of(notice: Notice) -> list[dict]:
    """Slack Block Kit: the sentence (linked), the details, and a context line with who and the links."""
    headline = f"<{notice.event_url}|{_slack_escape(notice.sentence)}>" if notice.event_url else _slack_escape(
        notice.sentence)
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}}]
    if notice.details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _slack_escape("\n".join(notice.details))[:2900]}})
    context = [f"By {_slack_escape(notice.actor)}"] if notice.actor else []
    if notice.manage_url:
        context.append(f"<{notice.manage_url}|Manage notifications>")
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return blocks


def _slack_escape(text: str) -> str:
    """Slack's three control characters (its own escaping; https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email_headers_of(notice: Notice) -> dict:
    if notice.unsubscribe_url:
        return {"List-Unsubscribe": f"<{notice.unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    if notice.manage_url:
        return {"List-Unsubscribe": f"<{notice.manage_url}>"}
    return {}


def render(notice: Notice) -> Message:
    """The Message every channel sends for this notice."""
    return Message(
        event_type=notice.event_type,
        subject=notice.sentence[:300],
        text=text_of(notice),
        payload={**notice.data, **({"actor": notice.actor} if notice.actor else {})},
        delivery_id=notice.delivery_id,
        html=render_to_string("outbound/message_email.html", {"notice": notice}),
        blocks=tuple(blocks_of(notice)),
        links=links_of(notice),
        email_headers=email_headers_of(notice),
    )


def stored_fields(notice: Notice) -> dict:
    """What a delivery row keeps of a notice (message_of renders it again at each attempt)."""
    return {"event_type": notice.event_type, "subject": notice.sentence[:300], "text": text_of(notice),
            "payload": notice.data, "notice": {"sentence": notice.sentence, "details": list(notice.details),
                                               "actor": notice.actor, "event_url": notice.event_url,
                                               "manage_url": notice.manage_url,
                                               "unsubscribe_url": notice.unsubscribe_url}}


def attempt_page(delivery, url_of, note: str = "") -> dict:
    """What an attempt's page shows (a subscription's and an audit stream's): the attempt, its siblings as
    (attempt, url or None for this one), a note beside its number, and both bodies as readable_body gives them."""
    siblings = Delivery.objects.filter(delivery_key=delivery.delivery_key).order_by("attempt")
    return {"delivery": delivery, "attempt_note": note,
            "attempt_links": [(a, None if a.pk == delivery.pk else url_of(a)) for a in siblings],
            "request_body": readable_body(delivery.request_body),
            "response_body": readable_body(delivery.response_excerpt)}


def readable_body(body: str) -> str:
    """A request or response body as an attempt's page shows it: JSON indented for reading, anything else as it came."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body
