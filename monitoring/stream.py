"""The monitoring pages' live channel (overview, run detail, health board, delivery log): one server-sent-events
stream per open page. lib/live wakes it when a run, a check result or a delivery is recorded; it then reads the
change token (monitoring.stats.change_token, index lookups only) and sends `changed` with the token as its id
when it moved. A reconnecting page sends the token back as Last-Event-ID: a change made while it was away is
sent at once. Access is checked when the stream opens and every ACCESS_SECONDS; a reader who is no longer a
manager is sent `close`."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from lib import live
from lib.live import sse

from .access import is_manager, require_manager
from .stats import change_token


def _still_manager(user_id) -> bool:
    user = get_user_model().objects.filter(pk=user_id).first()
    return user is not None and is_manager(user)


async def monitoring_stream(request):
    """GET /monitoring/live/?since=<the page's change token>."""
    user = await request.auser()
    if not user.is_authenticated:
        raise PermissionDenied("Sign in to see monitoring.")
    await sse.check(request, require_manager, request)
    if not sse.streams_available(request):
        return sse.unavailable()
    await sse.release_request_connections()
    seen: str = sse.last_event_id(request) or request.GET.get("since") or ""

    async def events():
        nonlocal seen
        yield f"retry: {sse.RETRY_MS}\n\n"
        clock = sse.Clock()
        async with live.subscribe(live.MONITORING) as messages:
            wake = None
            while not clock.expired():
                if clock.access_due() and not await sse.read(_still_manager, user.pk):
                    yield sse.close_message()
                    return
                token = await sse.read_changes(change_token, unchanged=seen)
                if token != seen:
                    seen = token
                    yield sse.message(token, event="changed", id=token)
                elif wake is None:
                    yield ": still here\n\n"
                wake = await messages.next(timeout=sse.SAFETY_SECONDS)
                if wake is not None and wake.kind == "stopping":
                    return

    return sse.response(events())
