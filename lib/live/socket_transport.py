"""On SQLite (one machine): UNIX datagram sockets. Each listening process binds one socket in a directory named
for the database file; a publish sends one datagram to every socket there (a socket whose process is gone is
removed). Crosses processes, needs no server."""

import asyncio
import hashlib
import os
import secrets
import socket
import tempfile
from pathlib import Path


def directory() -> Path:
    from django.conf import settings
    from django.db import connections

    if getattr(settings, "LIVE_SOCKET_DIR", ""):
        return Path(settings.LIVE_SOCKET_DIR)

    name = str(connections["default"].settings_dict["NAME"])
    digest = hashlib.sha256(os.path.abspath(name).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"activityhub-live-{os.getuid()}-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def publish(raw: str) -> None:
    data = raw.encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for target in directory().glob("*.sock"):
            try:
                sender.sendto(data, str(target))
            except (ConnectionRefusedError, FileNotFoundError):
                target.unlink(missing_ok=True)  # its process has gone
            except BlockingIOError:
                pass  # that process is far behind: it re-reads on its next safety wake-up anyway


async def listen(hub) -> None:
    loop = asyncio.get_running_loop()
    path = directory() / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.setblocking(False)
    receiver.bind(str(path))
    closed = loop.create_future()

    def readable():
        while True:
            try:
                data = receiver.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if not closed.done():
                    closed.set_exception(exc)
                return
            hub.dispatch_raw(data)

    loop.add_reader(receiver.fileno(), readable)
    hub.ready.set()
    try:
        await closed
    finally:
        loop.remove_reader(receiver.fileno())
        receiver.close()
        path.unlink(missing_ok=True)
