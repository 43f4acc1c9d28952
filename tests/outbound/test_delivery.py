"""The delivery engine (outbound.send): real receivers on 127.0.0.1, signatures checked by the README's own code."""

import contextlib
import json
import pathlib
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

import outbound
from outbound import Message, retry_delay, send, signature_header, verify_signature

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier():
    """The receiver-side example from the README's Webhooks section, executed as written."""
    section = README.read_text().split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README's Webhooks section lost its Python example"
    code = found.group(1)
    namespace: dict = {}
    exec(compile(code, "README.md#webhooks", "exec"), namespace)  # noqa: S102  # the README's own snippet, as a reader runs it
    return namespace["verify_activityhub_signature"]


class _Server(ThreadingHTTPServer):
    """The receiver's state, set by the tests: what to answer per path, and what it heard."""

    hits: list
    plan: dict
    lock: threading.Lock
    release: threading.Event
    url: str
    elsewhere: str
    verifier: Callable[[str, str, bytes], bool]
    secret: str


class _Receiver(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with server.lock:
            server.hits.append((self.path, dict(self.headers), body))
            plan = server.plan.get(self.path, [200])
            status = plan.pop(0) if len(plan) > 1 else plan[0]
        if self.path == "/slow":
            server.release.wait(3)  # answers only after the sender gave up (or the test ended)
        answer, headers = b"received", {}
        if self.path == "/huge":
            answer = "é".encode() * 150_000
        elif self.path == "/away":
            headers["Location"] = server.elsewhere
        elif self.path == "/moved":
            headers["Location"] = "/hook"
        elif self.path == "/verify":
            ok = server.verifier(server.secret, self.headers.get("X-ActivityHub-Signature", ""), body)
            status, answer = (200, b"verified") if ok else (400, b"bad signature")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the sender stopped reading (capped body, or it timed out)
            self.wfile.write(answer)

    def log_message(self, *args):
        pass


def _serve():
    server = _Server(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    server.hits, server.plan, server.lock, server.release = [], {}, threading.Lock(), threading.Event()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def receiver():
    servers = [_serve(), _serve()]
    servers[0].other, servers[0].elsewhere = servers[1], f"{servers[1].url}/hook"
    yield servers[0]
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def production_policy(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    settings.OUTBOUND_ALLOW_PRIVATE = False


MESSAGE = Message(
    event_type="activity.failed",
    subject="Import failed: nightly",
    text="The nightly import failed after 3 min.",
    payload={"event_id": 42, "status": "failed", "note": "naïve ☃"},
    delivery_id="dlv_0001",
)


# --- webhook ------------------------------------------------------------------------------------------------


def test_webhook_posts_the_envelope_with_its_headers(receiver):
    sent_at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    attempt = send("webhook", f"{receiver.url}/hook", MESSAGE, now=sent_at)
    assert attempt.ok and attempt.status_code == 200 and attempt.error == ""
    assert attempt.response_excerpt == "received" and attempt.latency_ms >= 0
    [(path, headers, body)] = receiver.hits
    assert json.loads(body) == {
        "id": "dlv_0001", "type": "activity.failed", "created": int(sent_at.timestamp()),
        "subject": "Import failed: nightly", "text": "The nightly import failed after 3 min.",
        "data": {"event_id": 42, "status": "failed", "note": "naïve ☃"},
    }
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "ActivityHub-Webhooks/1"
    assert headers["X-ActivityHub-Event"] == "activity.failed"
    assert headers["X-ActivityHub-Delivery"] == "dlv_0001"
    assert "X-ActivityHub-Signature" not in headers  # no secret, no signature


def test_header_values_outside_printable_ascii_are_percent_encoded_and_the_body_keeps_them(receiver):
    odd = Message("check.down", "s", "t", {}, "check:café\r\nX-Evil: 1")
    assert send("webhook", f"{receiver.url}/hook", odd).ok
    [(_, headers, body)] = receiver.hits
    assert headers["X-ActivityHub-Delivery"] == "check:caf%C3%A9%0D%0AX-Evil:%201" and "X-Evil" not in headers
    assert json.loads(body)["id"] == "check:café\r\nX-Evil: 1"


def test_a_receiver_that_fails_then_succeeds_gets_the_same_delivery_id(receiver):
    receiver.plan["/flaky"] = [500, 200]
    first = send("webhook", f"{receiver.url}/flaky", MESSAGE)
    second = send("webhook", f"{receiver.url}/flaky", MESSAGE)
    assert (first.ok, first.status_code, first.error, first.response_excerpt) == (False, 500, "HTTP 500", "received")
    assert (second.ok, second.status_code, second.error) == (True, 200, "")
    assert [json.loads(body)["id"] for _, _, body in receiver.hits] == ["dlv_0001", "dlv_0001"]


def test_a_slow_receiver_times_out_within_the_limit(receiver):
    started = time.monotonic()
    attempt = send("webhook", f"{receiver.url}/slow", MESSAGE, timeout=0.3)
    assert time.monotonic() - started < 2
    assert not attempt.ok and attempt.status_code is None and "timed out" in attempt.error


def test_a_redirect_to_another_host_is_not_followed(receiver):
    receiver.plan["/away"] = [302]
    attempt = send("webhook", f"{receiver.url}/away", MESSAGE)
    assert not attempt.ok and attempt.status_code == 302
    other = receiver.elsewhere.removesuffix("/hook")
    assert attempt.error == f"HTTP 302: redirected to {other}; redirects to another host are not followed"
    assert [path for path, _, _ in receiver.hits] == ["/away"] and receiver.other.hits == []


def test_a_redirect_within_the_same_origin_is_followed(receiver):
    receiver.plan["/moved"] = [307]
    attempt = send("webhook", f"{receiver.url}/moved", MESSAGE)
    assert attempt.ok and attempt.status_code == 200
    assert [path for path, _, _ in receiver.hits] == ["/moved", "/hook"]
    assert receiver.hits[0][2] == receiver.hits[1][2]  # the same body, re-posted (307 keeps the method)


def test_a_huge_response_is_read_only_up_to_the_cap(receiver):
    attempt = send("webhook", f"{receiver.url}/huge", MESSAGE)
    assert attempt.ok and len(attempt.response_excerpt) == 1000 and set(attempt.response_excerpt) == {"é"}


def test_an_unreachable_receiver_is_a_failed_attempt(receiver):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    attempt = send("webhook", f"http://127.0.0.1:{port}/hook", MESSAGE, timeout=1)
    assert not attempt.ok and attempt.status_code is None and attempt.error.startswith("could not deliver:")


def test_a_payload_that_is_not_json_is_a_failed_attempt_not_a_crash(receiver):
    bad = Message("x", "s", "t", {"thing": object()}, "dlv_x")
    attempt = send("webhook", f"{receiver.url}/hook", bad)
    assert not attempt.ok and "JSON" in attempt.error and receiver.hits == []


def test_an_unknown_channel_is_a_value_error():
    with pytest.raises(ValueError, match="unknown channel 'sms'"):
        send("sms", "+1555", MESSAGE)


# --- SSRF guard at send time --------------------------------------------------------------------------------


def test_internal_targets_are_refused_in_production_without_connecting(production_policy, receiver, monkeypatch):
    connections = []
    real_connect = socket.create_connection

    def recording_connect(*args, **kwargs):
        connections.append(args)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording_connect)
    for channel, url, reason in [
        ("webhook", "http://169.254.169.254/latest/meta-data/", "link-local"),
        ("slack", "http://10.0.0.1/hook", "private-network"),
        ("webhook", f"{receiver.url}/hook", "loopback"),
    ]:
        attempt = send(channel, url, MESSAGE, secrets=["whsec_x"])
        assert not attempt.ok and attempt.status_code is None
        assert attempt.error.startswith("refused:") and reason in attempt.error
    assert connections == [] and receiver.hits == []


# --- Slack and email ----------------------------------------------------------------------------------------


def test_slack_gets_the_subject_in_bold_and_the_text(receiver):
    attempt = send("slack", f"{receiver.url}/slack", MESSAGE, secrets=["whsec_unused"])
    assert attempt.ok
    [(_, headers, body)] = receiver.hits
    assert json.loads(body) == {"text": "*Import failed: nightly*\nThe nightly import failed after 3 min."}
    assert "X-ActivityHub-Signature" not in headers


def test_email_goes_through_djangos_backend(settings):
    attempt = send("email", "oncall@example.com", MESSAGE)
    assert attempt == outbound.Attempt(True, None, attempt.latency_ms, "", "")
    [sent] = mail.outbox
    assert (sent.subject, sent.body, sent.to) == (MESSAGE.subject, MESSAGE.text, ["oncall@example.com"])
    assert sent.extra_headers["X-ActivityHub-Delivery"] == "dlv_0001"


def test_email_failures_are_failed_attempts(settings):
    bad = send("email", "not an address", MESSAGE)
    assert not bad.ok and bad.error == "'not an address' is not an email address" and mail.outbox == []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 1}}}
    refused = send("email", "oncall@example.com", MESSAGE)
    assert not refused.ok and refused.error.startswith("email failed:") and refused.status_code is None


# --- signatures ---------------------------------------------------------------------------------------------


def test_a_signed_delivery_verifies_with_the_readme_code_and_the_library(receiver):
    receiver.verifier, receiver.secret = readme_verifier(), "whsec_current"
    attempt = send("webhook", f"{receiver.url}/verify", MESSAGE, secrets=["whsec_current"])
    assert (attempt.ok, attempt.response_excerpt) == (True, "verified")
    [(_, headers, body)] = receiver.hits
    assert verify_signature("whsec_current", headers["X-ActivityHub-Signature"], body)
    receiver.secret = "whsec_other"  # a receiver with another secret refuses it
    refused = send("webhook", f"{receiver.url}/verify", MESSAGE, secrets=["whsec_current"])
    assert (refused.ok, refused.status_code, refused.response_excerpt) == (False, 400, "bad signature")


def test_during_a_rotation_both_secrets_sign_and_each_verifies(receiver):
    receiver.verifier = readme_verifier()
    for secret in ["whsec_new", "whsec_old"]:
        receiver.secret = secret
        assert send("webhook", f"{receiver.url}/verify", MESSAGE, secrets=["whsec_new", "whsec_old"]).ok
    header = receiver.hits[0][1]["X-ActivityHub-Signature"]
    body = receiver.hits[0][2]
    assert len(re.findall(r"v1=[0-9a-f]{64}", header)) == 2 and header.startswith("t=")
    assert verify_signature("whsec_new", header, body) and verify_signature("whsec_old", header, body)
    assert not verify_signature("whsec_retired", header, body)


def test_tampered_stale_or_malformed_signatures_fail():
    body, now = b'{"id": "dlv_1"}', 1_764_633_600
    header = signature_header(["whsec_a"], now, body)
    readme = readme_verifier()
    assert verify_signature("whsec_a", header, body, now=now)
    assert not verify_signature("whsec_a", header, body + b" ", now=now)
    assert not readme("whsec_a", signature_header(["whsec_a"], int(time.time()), body), body + b" ")
    assert verify_signature("whsec_a", header, body, now=now + 300)
    assert not verify_signature("whsec_a", header, body, now=now + 301)  # too old: a replay
    assert not verify_signature("whsec_a", header, body, now=now - 301)  # from the future
    old = signature_header(["whsec_a"], int(time.time()) - 3600, body)
    assert not readme("whsec_a", old, body) and not verify_signature("whsec_a", old, body)
    for broken in ["", "t=abc,v1=00", f"v1={header.split('v1=')[1]}", f"t={now}", "garbage", f"t={now},v1=é"]:
        assert not verify_signature("whsec_a", broken, body, now=now)
        assert not readme("whsec_a", broken, body)
    with pytest.raises(ValueError):
        signature_header([], now, body)


def test_new_secrets_are_prefixed_and_unguessable():
    secrets = {outbound.new_secret() for _ in range(20)}
    assert len(secrets) == 20 and all(s.startswith("whsec_") and len(s) > 40 for s in secrets)


# --- retry spacing ------------------------------------------------------------------------------------------


def test_retry_delay_grows_exponentially_and_stops_at_the_cap():
    assert [retry_delay(n, base=30, jitter=0).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert retry_delay(10, base=30, cap=3600, jitter=0) == timedelta(hours=1)
    assert retry_delay(10_000, base=30, jitter=0) == timedelta(days=365)  # no overflow on absurd counts
    with pytest.raises(ValueError):
        retry_delay(0, base=30)


def test_retry_jitter_is_bounded_and_reproducible_with_a_seed():
    delays = [retry_delay(3, base=10, jitter=0.1, rng=random.Random(7)) for _ in range(3)]
    assert len(set(delays)) == 1  # the same seed, the same delay
    rng = random.Random(11)
    spread = [retry_delay(3, base=10, jitter=0.1, rng=rng).total_seconds() for _ in range(200)]
    assert all(36 <= s <= 44 for s in spread) and max(spread) - min(spread) > 4  # ±10 % of 40 s, and it spreads
