"""Real HTTP receivers on 127.0.0.1 for the notification and monitoring tests: `Receiver` answers with scripted
status codes (to GET, HEAD and POST) and keeps every request it got (headers and body); `Trickler` answers one byte
at a time."""

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, statuses=(200,), body=b'{"ok": true}'):
        self.statuses = list(statuses)  # the last one repeats
        self.body = body
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                receiver.requests.append({"headers": dict(self.headers), "body": raw})
                index = min(len(receiver.requests) - 1, len(receiver.statuses) - 1)
                self.send_response(receiver.statuses[index])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(receiver.body)

            do_GET = do_HEAD = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def json(self, index=-1):
        return json.loads(self.requests[index]["body"])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Trickler:
    """A receiver on 127.0.0.1 that answers one byte at a time, the way a hostile or broken server holds a client.

    mode "headers": the status line and headers never end; mode "body": complete headers announcing a large body
    that then trickles. Each connection stops by itself after `for_seconds` (or when the client goes away), so a
    client without a whole-request deadline is seen taking that long, and nothing outlives the test.
    """

    def __init__(self, mode="headers", *, every=0.05, for_seconds=10.0):
        if mode not in {"headers", "body"}:
            raise ValueError(mode)
        self.mode, self.every, self.for_seconds = mode, every, for_seconds
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self):
        return self._listener.getsockname()[1]

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        ends = time.monotonic() + self.for_seconds
        with conn:
            conn.settimeout(self.for_seconds)
            request = b""
            while b"\r\n\r\n" not in request and time.monotonic() < ends:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            stream: Iterator[int]
            if self.mode == "headers":
                stream = itertools.chain(b"HTTP/1.1 200 OK\r\n", itertools.cycle(b"X-Padding: slow\r\n"))
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
                stream = itertools.cycle(b"x")
            for byte in stream:
                if self._stop.is_set() or time.monotonic() >= ends:
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up: what a deadline is for
                time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._listener.close()
        self._thread.join(5)
