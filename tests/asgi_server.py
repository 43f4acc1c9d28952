"""A real ASGI server (uvicorn, the Procfile's web role without gunicorn around it) in a thread of the test
process, on loopback, serving the test database: for the live streams, which the WSGI test client cannot hold.

Use with `@pytest.mark.django_db(transaction=True)`: the server's threads read what the test committed.
"""

import http.client
import threading
import time

import pytest
from django.conf import settings
from django.test import Client

__all__ = ["SseReader", "asgi_server", "session_cookie"]


class _Server:
    def __init__(self, port=None):
        from tests.system.processes import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._build()

    def _build(self):
        import uvicorn

        from activityhub.asgi import application

        config = uvicorn.Config(application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="asgi-test-server")

    def kill(self):
        """Stop at once, dropping every open connection (as a crashed or redeployed node would)."""
        self.server.should_exit = self.server.force_exit = True
        self.thread.join(15)

    def restart(self):
        self._build()
        self.start()

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the ASGI test server did not start within 20 s")
            time.sleep(0.05)

    def stop(self):
        self.kill()


@pytest.fixture
def asgi_server(settings, tmp_path):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    # The test databases of parallel workers share a name: each test gets a socket directory of its own.
    settings.LIVE_BACKEND, settings.LIVE_SOCKET_DIR = "sockets", str(tmp_path)
    server = _Server()
    server.start()
    yield server
    server.stop()
    from lib.live import sse

    sse.stop_pool()  # its threads' connections would outlive the test database otherwise


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class SseReader:
    """Reads one server-sent-events stream message by message (each a dict of event, id, data)."""

    def __init__(self, server, path, cookie="", last_event_id=None, timeout=10.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        headers = {"Accept": "text/event-stream", "Cookie": cookie}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status

    def next(self):
        """The next message with data or an event name (comments and retry lines skipped); None at the end."""
        fields: dict = {}
        while True:
            raw = self.response.fp.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in fields or "data" in fields:
                    fields.setdefault("event", "message")
                    return fields
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                fields["data"] = fields["data"] + "\n" + value if "data" in fields else value
            elif name in ("event", "id"):
                fields[name] = value

    def until(self, event):
        while (message := self.next()) is not None:
            if message["event"] == event:
                return message
        raise AssertionError(f"the stream ended before an {event!r} message")

    def close(self):
        self.connection.close()
