"""The outbound request guard: internal addresses refused in every notation, at save time and at request time."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

import outbound
from monitoring.checks import probe
from monitoring.models import HealthCheck

INTERNAL_URLS = [
    "http://127.0.0.1:6379/",
    "http://localhost/",
    "http://2130706433/",  # decimal
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex
    "http://127.1/",  # short
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://[fd00::1]/",
    "http://100.100.100.200/",  # carrier-grade NAT (a cloud metadata address)
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
]


@pytest.fixture
def production_policy(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    settings.OUTBOUND_ALLOW_PRIVATE = False


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1; `server.routes[path] = (status, headers, body)`."""

    class Server(ThreadingHTTPServer):
        hits: list
        routes: dict
        port: int
        url: str

    class Handler(BaseHTTPRequestHandler):
        server: Server

        def do_GET(self):
            self.server.hits.append((self.path, self.headers.get("Host")))
            status, headers, body = self.server.routes.get(self.path, (200, {}, b"ok"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value.replace("{port}", str(self.server.server_address[1])))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hits, server.routes = [], {}
    server.port = server.server_address[1]
    server.url = f"http://127.0.0.1:{server.port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_in_every_notation(production_policy, url):
    with pytest.raises(outbound.OutboundBlocked):
        outbound.check_url(url)
    with pytest.raises(ValidationError):
        outbound.validate_outbound_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http:///nohost"])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(outbound.OutboundBlocked):
        outbound.check_url(url, resolve=False)


def test_metadata_addresses_are_refused_even_when_private_targets_are_allowed(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = settings.OUTBOUND_ALLOW_PRIVATE = True
    for url in ["http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/", "http://224.0.0.1/"]:
        with pytest.raises(outbound.OutboundBlocked):
            outbound.check_url(url)
    assert outbound.check_url("http://10.0.0.1/").addresses == ("10.0.0.1",)


def test_public_addresses_pass(production_policy):
    assert outbound.check_url("https://1.1.1.1/health").addresses == ("1.1.1.1",)
    assert outbound.check_url("http://[2606:4700:4700::1111]/").addresses == ("2606:4700:4700::1111",)


def test_a_name_resolving_to_an_internal_address_is_refused(production_policy, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"status.example.com": ["93.184.215.14", "10.1.2.3"]}))
    with pytest.raises(outbound.OutboundBlocked, match="resolves to 10.1.2.3"):
        outbound.check_url("https://status.example.com/")


_real_getaddrinfo = socket.getaddrinfo


def _resolver(answers):
    """A fake DNS (outside the machine) for the names in answers; numeric hosts resolve as usual."""

    def getaddrinfo(host, port, *args, **kwargs):
        if outbound.guard._literal_address(host) is not None:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found = answers[host] if isinstance(answers[host], list) else answers[host]()
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in found]

    return getaddrinfo


def test_manager_cannot_save_a_health_check_for_the_metadata_service(client_for, manager, production_policy):
    response = client_for(manager).post(reverse("monitoring:health"), {
        "check_name": "Metadata", "url": "http://169.254.169.254/latest/meta-data/", "method": "GET",
        "expected_status": 200, "timeout_ms": 2000, "interval_seconds": 30,
    })
    assert response.status_code == 422
    assert "link-local" in response.content.decode()
    assert not HealthCheck.objects.exists()


def test_the_admin_refuses_an_internal_health_check_url(client_for, staff, production_policy):
    # Health checks are configured in their own table (health_checks); results are read-only in the admin.
    response = client_for(staff).post("/admin/monitoring/healthcheck/add/", {
        "check_id": "redis", "check_name": "Redis", "environment": "production", "url": "http://[::ffff:127.0.0.1]:6379/",
        "method": "GET", "expected_status": 200, "timeout_ms": 2000, "interval_seconds": 60,
        "due_at_0": "2026-01-01", "due_at_1": "00:00:00", "alert_state": "OK",
    })
    assert response.status_code == 200  # the form again, with the error
    assert "loopback" in response.content.decode()
    assert not HealthCheck.objects.exists()


def test_a_check_saved_while_public_is_refused_when_dns_later_points_inside(http_server, production_policy, monkeypatch):
    answers = {"api.example.com": ["93.184.215.14"]}
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(answers))
    outbound.validate_outbound_url("http://api.example.com/health")  # fine when saved
    answers["api.example.com"] = ["127.0.0.1"]
    result = probe(f"http://api.example.com:{http_server.port}/health", "GET", 200, 2000)
    assert not result.healthy and result.actual_status is None and result.error is not None
    assert result.error.startswith("refused:") and "127.0.0.1" in result.error
    assert http_server.hits == []


def test_the_request_connects_to_the_address_it_checked_not_a_second_dns_answer(http_server, settings, monkeypatch):
    # First answer loopback (allowed here), every later answer an address that must never be reached.
    calls = []

    def answer():
        calls.append(1)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"rebind.example.com": answer}))
    response = outbound.request("GET", f"http://rebind.example.com:{http_server.port}/")
    assert response.status == 200 and response.body == b"ok"
    assert len(calls) == 1
    assert http_server.hits == [("/", f"rebind.example.com:{http_server.port}")]  # Host is still the name


def test_production_probe_never_connects_to_loopback(http_server, production_policy):
    result = probe(f"{http_server.url}/", "GET", 200, 2000)
    assert not result.healthy and result.error is not None and "loopback" in result.error
    assert http_server.hits == []


def test_redirects_to_another_host_are_not_followed(http_server):
    http_server.routes["/away"] = (302, {"Location": "http://[::1]:{port}/inside"}, b"")
    http_server.routes["/same"] = (301, {"Location": "/there"}, b"")
    away = outbound.request("GET", f"{http_server.url}/away", max_redirects=5)
    assert away.status == 302
    same = outbound.request("GET", f"{http_server.url}/same", max_redirects=5)
    assert same.status == 200 and same.url.endswith("/there")
    assert [path for path, _ in http_server.hits] == ["/away", "/same", "/there"]


def test_a_same_host_redirect_chain_longer_than_the_limit_says_so(http_server):
    for hop in range(1, 6):
        http_server.routes[f"/r{hop}"] = (302, {"Location": f"/r{hop + 1}"}, b"")
    attempt = outbound.send("webhook", f"{http_server.url}/r1", outbound.Message("t", "s", "x", {}, "id-1"))
    assert not attempt.ok and attempt.status_code == 302
    assert attempt.error == (f"HTTP 302: still redirecting after 3 redirects within {http_server.url} (the next to "
                             "/r5); at most 3 are followed")
    assert "another host" not in attempt.error
    assert [path for path, _ in http_server.hits] == ["/r1", "/r2", "/r3", "/r4"]


def test_a_same_host_redirect_loop_is_named_a_loop(http_server):
    http_server.routes["/a"] = (307, {"Location": "/b"}, b"")
    http_server.routes["/b"] = (307, {"Location": "/a"}, b"")
    attempt = outbound.send("webhook", f"{http_server.url}/a", outbound.Message("t", "s", "x", {}, "id-1"))
    assert attempt.error == f"HTTP 307: the redirects within {http_server.url} go round in a loop (/a → /b → /a)"
    assert [path for path, _ in http_server.hits] == ["/a", "/b"]


def test_a_redirect_to_another_host_still_says_it_is_not_followed(http_server):
    http_server.routes["/away"] = (302, {"Location": "http://[::1]:{port}/inside"}, b"")
    response = outbound.request("GET", f"{http_server.url}/away", max_redirects=3)
    assert response.unfollowed_redirect == (f"redirected to http://[::1]:{http_server.port}; redirects to another "
                                            "host are not followed")


def test_redirects_are_not_followed_by_default(http_server):
    http_server.routes["/same"] = (301, {"Location": "/there"}, b"")
    assert outbound.request("GET", f"{http_server.url}/same").status == 301


def test_a_large_response_is_read_only_up_to_the_cap(http_server):
    http_server.routes["/big"] = (200, {}, b"x" * 300_000)
    response = outbound.request("GET", f"{http_server.url}/big", max_bytes=1000)
    assert response.status == 200 and len(response.body) == 1000 and response.truncated


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections into the backlog, never answers
    try:
        started = time.monotonic()
        with pytest.raises(outbound.OutboundError, match="timed out"):
            outbound.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.3)
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_proxy_environment_variables_cannot_route_around_the_guard(http_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://169.254.169.254:80")
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:80")
    assert outbound.request("GET", f"{http_server.url}/").status == 200


def test_webhooks_go_through_the_guard(production_policy):
    message = outbound.Message("check_down", "Down", "api is down", {}, "check:api:down")
    for channel, url in [("webhook", "http://169.254.169.254/hook"), ("slack", "http://[::ffff:10.0.0.1]/hook")]:
        attempt = outbound.send(channel, url, message)
        assert not attempt.ok and attempt.status_code is None and attempt.error.startswith("refused:")


def test_the_guard_imports_nothing_from_the_apps():
    import ast
    import pathlib

    for path in pathlib.Path(outbound.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(n.split(".")[0] in {"projects", "events", "monitoring", "activityhub"} for n in names)
