"""The outbound request guard: which URLs the product may request, and a request function that keeps to it.

A manager (or, later, a webhook owner) types a URL; the server then requests it and shows the outcome. Without
a guard that is a server-side request forgery: cloud metadata (169.254.169.254), Redis on 127.0.0.1:6379, the
private network, with the status and error text as a port scanner's signal. The rules:

- only `http` and `https`;
- the host's every address must be public: loopback, private (RFC 1918, unique-local), carrier-grade NAT,
  link-local (cloud metadata lives there), unspecified, multicast, broadcast, reserved and documentation
  ranges are refused, in every notation: IPv4-mapped and NAT64/6to4/Teredo IPv6, decimal `2130706433`,
  octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`, and DNS names that resolve to any of them;
- settings OUTBOUND_ALLOW_LOOPBACK and OUTBOUND_ALLOW_PRIVATE (on in development, tests and the demo; off with
  PRODUCTION=1 unless set) allow loopback and private addresses; link-local, metadata, unspecified and
  multicast addresses are refused whatever the settings.

API (import from `outbound`):

    validate_outbound_url(url)        # a Django validator: raises ValidationError with a readable reason
    check_url(url, resolve=True)      # raises OutboundBlocked; returns the checked addresses
    request(method, url, body=b"", headers={}, timeout=10.0, max_bytes=65536, max_redirects=0) -> Response

`request` resolves the host again at request time (DNS may have changed since the URL was saved), checks every
address, and connects to a checked address itself, so a second DNS answer cannot slip in between the check and
the connection (DNS rebinding); TLS still verifies the certificate against the host name. It never uses
proxy environment variables, answers any HTTP status as a Response (3xx included, unfollowed by default),
follows at most `max_redirects` redirects and only to the same scheme, host and port (`Response.unfollowed_redirect`
says in words why a redirect it answers with was not followed), and reads at most `max_bytes` of the body
(`Response.truncated` says it stopped there).

`timeout` is a deadline for the whole request, kept by a clock: the name lookup, the connection, the TLS handshake,
sending, the headers and the body all come out of the same `timeout` seconds. Every blocking socket call is given
only the time left (a server that trickles one byte a second cannot stretch a 2 s request past 2 s), and the name
lookup, which the C resolver does without any timeout, runs in a small pool of threads and is waited for only as
long as the deadline allows. At save time (validate_outbound_url) the lookup waits OUTBOUND_DNS_TIMEOUT_SECONDS.
Failures raise OutboundError (OutboundBlocked, a subclass, when the guard refused; OutboundTimeout, another, at the
deadline, saying what it was waiting for); the message is safe to show.
"""

import http.client
import io
import ipaddress
import socket
import ssl
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from lib.threads import DaemonThreadPool

ALLOWED_SCHEMES = {"http", "https"}
DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges the ipaddress flags miss or that need naming: CGNAT (Alibaba's metadata is 100.100.100.200),
# IETF protocol assignments (Oracle's metadata is 192.0.0.192), benchmarking, and IPv6 site-local.
_PRIVATE_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "fec0::/10", "fc00::/7", "10.0.0.0/8",
              "172.16.0.0/12", "192.168.0.0/16")
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Name lookups run here so that one can be given up on; a lookup that gets no thread in time is given up too.
_resolver = DaemonThreadPool(8, "outbound-dns")


class OutboundError(Exception):
    """An outbound request failed; the message says why in words fit for the person who configured the URL."""


class OutboundBlocked(OutboundError):
    """The guard refused the URL or one of its addresses."""


class OutboundTimeout(OutboundError):
    """The request's deadline passed; `phase` says what it was waiting for ("waiting for the response headers")."""

    def __init__(self, seconds: float, phase: str):
        super().__init__(f"timed out after {seconds:g} s while {phase}")
        self.seconds = seconds
        self.phase = phase


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    unfollowed_redirect: str = ""  # a 3xx with a Location that was not followed: why, in words ("" otherwise)


def _allow_loopback() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_LOOPBACK", False))


def _allow_private() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def address_problem(address) -> str | None:
    """Why this address may not be requested under the current settings, or None when it may."""
    address = ipaddress.ip_address(address)
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded)
    if address.is_unspecified:
        return "an unspecified address (0.0.0.0 or ::)"
    if address.is_loopback:
        return None if _allow_loopback() else "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if any(address in net for net in _PRIVATE_NETWORKS if net.version == address.version) or address.is_private:
        return None if _allow_private() else "a private-network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _literal_address(host: str):
    """The address a numeric host stands for in any notation the C resolver accepts, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # inet_aton reads decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1) and short (127.1) forms
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]  # checked addresses to connect to; empty when not resolved


def _split(url: str):
    if not isinstance(url, str) or any(c in url for c in "\x00\r\n\t "):
        raise OutboundBlocked("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundBlocked(f"The URL is not valid: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise OutboundBlocked("Only http:// and https:// URLs may be requested.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundBlocked("The URL has no host.")
    return parts, scheme, host, port or DEFAULT_PORTS[scheme]


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=max(timeout, 0))
    except FutureTimeout:
        lookup.cancel()  # not started yet: it never will be
        raise OutboundTimeout(timeout, f"resolving {host}") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"Could not resolve {host}: {exc}.") from None
    seen = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(str(sockaddr[0]))
    return seen


def check_url(url: str, *, resolve: bool = True, timeout: float | None = None) -> Target:
    """Refuse (OutboundBlocked) a URL the guard does not allow; with resolve, check every address of its host.

    Raises OutboundError (not Blocked) when the name does not resolve, OutboundTimeout when it does not resolve
    within `timeout` seconds (default OUTBOUND_DNS_TIMEOUT_SECONDS).
    """
    _parts, scheme, host, port = _split(url)
    literal = _literal_address(host)
    if literal is not None:
        problem = address_problem(literal)
        if problem:
            raise OutboundBlocked(f"{host} is {problem}; requests to it are not allowed.")
        return Target(scheme, host, port, (str(literal),))
    if (host.lower() == "localhost" or host.lower().endswith(".localhost")) and not _allow_loopback():
        raise OutboundBlocked(f"{host} is a loopback address; requests to it are not allowed.")
    if not resolve:
        return Target(scheme, host, port, ())
    if timeout is None:
        timeout = float(getattr(settings, "OUTBOUND_DNS_TIMEOUT_SECONDS", 2.0))
    addresses = _resolve(host, port, timeout)
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise OutboundBlocked(f"{host} resolves to {address}, {problem}; requests to it are not allowed.")
    return Target(scheme, host, port, tuple(addresses))


def validate_outbound_url(value: str) -> None:
    """Django validator for a URL the server will request later (health checks, webhooks).

    Names that do not resolve now, or not within OUTBOUND_DNS_TIMEOUT_SECONDS, are accepted (DNS may be set up
    later, or be slow right now); request() checks again anyway.
    """
    try:
        check_url(value)
    except OutboundBlocked as exc:
        raise ValidationError(str(exc), code="outbound_blocked") from None
    except OutboundError:
        pass


class _Deadline:
    """The clock of one request, redirects included: what is left of it, and what the request is waiting for."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.phase = "starting"

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


class _DeadlineReader(io.RawIOBase):
    """The response side of the socket: each read may block only for what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline):
        # The socket's own unbuffered file: it keeps the socket open after http.client closes the connection
        # to hand it over to the response (Connection: close), as a plain makefile() would.
        self._raw = sock.makefile("rb", buffering=0)
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self._sock.settimeout(self._deadline.left())
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected (TLS) socket whose every blocking call gets only what is left of the deadline, so the deadline
    holds however the other side spreads its bytes out; http.client sees an ordinary socket."""

    def __init__(self, sock: socket.socket, deadline: _Deadline):
        self._sock, self._deadline = sock, deadline

    def sendall(self, data) -> None:
        self._sock.settimeout(self._deadline.left())  # sendall's timeout covers the whole call, not each send
        self._sock.sendall(data)

    def makefile(self, mode="rb", buffering=None, **kwargs):
        if mode != "rb":
            raise ValueError("only the response is read through a file")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Connection(http.client.HTTPConnection):
    """http.client's connection, connecting (and shaking hands) only with the checked addresses, within the deadline."""

    def __init__(self, target: Target, deadline: _Deadline):
        super().__init__(target.host, target.port)
        self.default_port = DEFAULT_PORTS[target.scheme]  # the Host header names the port only when it is not this
        self._target, self._deadline = target, deadline

    def connect(self):
        self._deadline.phase = "connecting"
        last: OSError | None = None
        sock = None
        for address in self._target.addresses:
            try:
                sock = socket.create_connection((address, self._target.port), self._deadline.left())
                break
            except TimeoutError:
                raise
            except OSError as exc:
                last = exc
        if sock is None:
            raise last or OSError("no address to connect to")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._target.scheme == "https":
            self._deadline.phase = "connecting (TLS)"
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            sock.settimeout(self._deadline.left())  # the handshake is one call: CPython bounds it as a whole
            try:
                sock = context.wrap_socket(sock, server_hostname=self._target.host)
            except BaseException:
                sock.close()
                raise
        self.sock = _DeadlineSocket(sock, self._deadline)


def _one_request(method, url, body, headers, deadline, max_bytes) -> Response:
    deadline.phase = "resolving " + (urlsplit(url).hostname or "the host")
    target = check_url(url, timeout=deadline.left())
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _Connection(target, deadline)
    try:
        conn.connect()
        deadline.phase = "sending the request"
        conn.request(method, path, body=body if body or method in {"POST", "PUT", "PATCH"} else None, headers=headers)
        deadline.phase = "waiting for the response headers"
        raw = conn.getresponse()
        deadline.phase = "reading the response body"
        chunks, size, truncated = [], 0, False
        while True:
            chunk = raw.read(min(65536, max_bytes - size + 1))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                truncated = True
                break
        data = b"".join(chunks)[:max_bytes]
        return Response(raw.status, url, {k.lower(): v for k, v in raw.getheaders()}, data, truncated)
    finally:
        conn.close()


def _origin(parts) -> str:
    return f"{parts.scheme}://{parts.netloc}"[:200]


def _next_hop(response: Response, visited: list[str], max_redirects: int) -> tuple[str | None, str]:
    """Where a redirect response leads and may be followed to, or (None, why it is not followed)."""
    location = response.headers.get("location", "")
    try:
        next_url = urljoin(response.url, location)
        here, there = urlsplit(response.url), urlsplit(next_url)
        same_origin = (here.scheme, here.hostname, here.port) == (there.scheme, there.hostname, there.port)
    except ValueError:
        return None, f"redirected to {location[:200]!r}, which is not a valid URL"
    if not same_origin:
        return None, f"redirected to {_origin(there)}; redirects to another host are not followed"
    path = (there.path or "/") + (f"?{there.query}" if there.query else "")
    if max_redirects == 0:
        return None, f"redirected to {path[:200]}; redirects are not followed"
    if next_url in visited:
        chain = " → ".join((urlsplit(u).path or "/") for u in [*visited[visited.index(next_url):], next_url])
        return None, f"the redirects within {_origin(here)} go round in a loop ({chain[:300]})"
    if len(visited) > max_redirects:
        return None, (f"still redirecting after {max_redirects} redirect{'s' if max_redirects != 1 else ''} within "
                      f"{_origin(here)} (the next to {path[:200]}); at most {max_redirects} are followed")
    return next_url, ""


def request(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 65536,
    max_redirects: int = 0,
) -> Response:
    """One guarded HTTP request, over within `timeout` seconds in all; any status is a Response, a refusal or
    failure raises OutboundError."""
    deadline = _Deadline(timeout)
    headers = dict(headers or {})
    try:
        response = _one_request(method, url, body, headers, deadline, max_bytes)
        visited = [url]
        while response.status in REDIRECT_STATUSES and response.headers.get("location"):
            next_url, why = _next_hop(response, visited, max_redirects)
            if next_url is None:
                response.unfollowed_redirect = why
                break
            if response.status == 303:
                method, body = "GET", b""
            visited.append(next_url)
            response = _one_request(method, next_url, body, headers, deadline, max_bytes)
        return response
    except OutboundTimeout as exc:  # the name lookup's: said with the request's whole deadline
        raise OutboundTimeout(timeout, exc.phase) from None
    except OutboundError:
        raise
    except TimeoutError:
        raise OutboundTimeout(timeout, deadline.phase) from None
    except ssl.SSLError as exc:
        raise OutboundError(f"TLS failed: {exc.reason or exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise OutboundError(f"connection failed: {reason}") from None
