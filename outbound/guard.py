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
follows at most `max_redirects` redirects and only to the same scheme, host and port, gives up after `timeout`
seconds in all, and reads at most `max_bytes` of the body (`Response.truncated` says it stopped there).
Failures raise OutboundError (OutboundBlocked, a subclass, when the guard refused); the message is safe to show.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

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


class OutboundError(Exception):
    """An outbound request failed; the message says why in words fit for the person who configured the URL."""


class OutboundBlocked(OutboundError):
    """The guard refused the URL or one of its addresses."""


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False


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


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"Could not resolve {host}: {exc}.") from None
    seen = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(str(sockaddr[0]))
    return seen


def check_url(url: str, *, resolve: bool = True) -> Target:
    """Refuse (OutboundBlocked) a URL the guard does not allow; with resolve, check every address of its host.

    Raises OutboundError (not Blocked) when the name does not resolve.
    """
    _parts, scheme, host, port = _split(url)
    literal = _literal_address(host)
    if literal is not None:
        problem = address_problem(literal)
        if problem:
            raise OutboundBlocked(f"{host} is {problem}; requests to it are not allowed.")
        return Target(scheme, host, port, (str(literal),))
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        if not _allow_loopback():
            raise OutboundBlocked(f"{host} is a loopback address; requests to it are not allowed.")
    if not resolve:
        return Target(scheme, host, port, ())
    addresses = _resolve(host, port)
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise OutboundBlocked(f"{host} resolves to {address}, {problem}; requests to it are not allowed.")
    return Target(scheme, host, port, tuple(addresses))


def validate_outbound_url(value: str) -> None:
    """Django validator for a URL the server will request later (health checks, webhooks).

    Names that do not resolve now are accepted (DNS may be set up later); request() checks again anyway.
    """
    try:
        check_url(value)
    except OutboundBlocked as exc:
        raise ValidationError(str(exc), code="outbound_blocked") from None
    except OutboundError:
        pass


class _Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def _connection(target: Target, deadline: _Deadline):
    """An http.client connection whose socket goes to the checked addresses, never to a fresh DNS answer."""

    def connect_checked(_address, timeout=None, source_address=None):
        last = None
        for address in target.addresses:
            try:
                return socket.create_connection((address, target.port), deadline.left(), source_address)
            except OSError as exc:
                last = exc
        raise last or OSError("no address to connect to")

    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=deadline.left(), context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=deadline.left())
    conn._create_connection = connect_checked  # type: ignore[attr-defined]  # the one hook http.client offers for where the socket goes
    return conn


def _one_request(method, url, body, headers, deadline, max_bytes) -> Response:
    target = check_url(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _connection(target, deadline)
    try:
        conn.request(method, path, body=body if body or method in {"POST", "PUT", "PATCH"} else None, headers=headers)
        conn.sock.settimeout(deadline.left())
        raw = conn.getresponse()
        chunks, size, truncated = [], 0, False
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(deadline.left())
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
    """One guarded HTTP request; any status is a Response, a refusal or failure raises OutboundError."""
    deadline = _Deadline(timeout)
    headers = dict(headers or {})
    try:
        response = _one_request(method, url, body, headers, deadline, max_bytes)
        for _ in range(max_redirects):
            location = response.headers.get("location")
            if response.status not in {301, 302, 303, 307, 308} or not location:
                break
            next_url = urljoin(response.url, location)
            here, there = urlsplit(response.url), urlsplit(next_url)
            if (here.scheme, here.hostname, here.port) != (there.scheme, there.hostname, there.port):
                break  # never to another host: the caller gets the redirect itself
            if response.status == 303:
                method, body = "GET", b""
            response = _one_request(method, next_url, body, headers, deadline, max_bytes)
        return response
    except OutboundError:
        raise
    except TimeoutError:
        raise OutboundError(f"timed out after {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise OutboundError(f"TLS failed: {exc.reason or exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise OutboundError(f"connection failed: {reason}") from None
