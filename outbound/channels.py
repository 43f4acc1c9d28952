"""The channel registry: every way a message can leave, with its label and its send function (healthchecks'
TRANSPORTS). Monitoring's destinations and notification subscriptions take their choices from here.

    TRANSPORTS["slack"].label          # "Slack-compatible webhook"
    channel_choices()                  # [("slack", "Slack-compatible webhook"), …] for a model's choices
    transport("email").send(target, message, secrets=(), timeout=10, now=None) -> Attempt
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .delivery import Attempt, Message, send_email, send_slack, send_webhook


@dataclass(frozen=True)
class Transport:
    name: str  # stored in the delivery log and in subscriptions
    label: str  # what people read in forms and logs
    send: Callable  # (target, message, *, secrets, timeout, now) -> Attempt
    needs_url: bool  # the target is a URL (checked by the outbound guard) rather than an email address


TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        Transport("slack", "Slack-compatible webhook", send_slack, needs_url=True),
        Transport("webhook", "Signed webhook (JSON)", send_webhook, needs_url=True),
        Transport("email", "Email", send_email, needs_url=False),
    )
}
CHANNELS = tuple(TRANSPORTS)


def channel_choices() -> list[tuple[str, str]]:
    return [(t.name, t.label) for t in TRANSPORTS.values()]


def transport(name: str) -> Transport:
    try:
        return TRANSPORTS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; expected one of {', '.join(TRANSPORTS)}") from None


def send(
    channel: str,
    target: str,
    message: Message,
    *,
    secrets: Sequence[str] = (),
    timeout: float = 10.0,
    now: datetime | None = None,
) -> Attempt:
    """Make one delivery attempt through the channel's transport. Failures (refused URL, timeout, non-2xx, SMTP
    error) are an Attempt with ok=False; only an unknown channel raises ValueError. Touches no database."""
    return transport(channel).send(target, message, secrets=secrets, timeout=timeout, now=now)
