"""Bench-only: the app's URLs plus a server-sent-events stream of "something changed", for `python -m bench live`
to compare with the "changed since?" poll the dashboards use. Not part of the app (no URL of the app serves it).

One broadcaster thread per server process reads change_token() once a second; each open stream waits on a
condition and writes an event when the token moves. So the database cost is one token read per second whatever
the number of dashboards; what each stream costs is a thread (and, on gunicorn's sync workers, a whole worker).
"""

import threading
import time

from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import include, path

from monitoring.access import manager_required
from monitoring.stats import change_token

_changed = threading.Condition()
_state = {"token": None, "started": False}
MAX_STREAM_SECONDS = 120


def _broadcast():
    while True:
        token = change_token()
        with _changed:
            if token != _state["token"]:
                _state["token"] = token
                _changed.notify_all()
        time.sleep(1.0)


def _ensure_broadcaster():
    with _changed:
        if not _state["started"]:
            _state["started"] = True
            threading.Thread(target=_broadcast, daemon=True, name="live-broadcast").start()


@manager_required
def live_stream(request):
    try:
        seconds = min(max(int(request.GET.get("seconds", "20")), 1), MAX_STREAM_SECONDS)
    except ValueError:
        seconds = 20
    _ensure_broadcaster()
    connection.close()  # the stream holds no database connection: the broadcaster reads for everyone

    def events():
        end = time.monotonic() + seconds
        with _changed:
            seen = _state["token"]
        yield f"event: changed\ndata: {seen}\n\n"
        while time.monotonic() < end:
            with _changed:
                _changed.wait(timeout=min(15.0, max(0.0, end - time.monotonic())))
                token = _state["token"]
            if token != seen:
                seen = token
                yield f"event: changed\ndata: {token}\n\n"
            else:
                yield ": still here\n\n"  # a comment line keeps proxies from closing an idle stream

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


urlpatterns = [path("bench/live-stream/", live_stream), path("", include("activityhub.urls"))]
