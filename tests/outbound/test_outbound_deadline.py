"""Every outbound request ends at its deadline, whatever the other side does: the deadline covers the name lookup,
the connection, TLS, the headers and the body, and is kept by a clock, not by a timeout per socket read.

Elapsed time is measured here because the deadline IS the promise (a correctness bound, not a speed claim): each
request must be over within its deadline + 0.5 s, against receivers that would otherwise hold it for 10 s.
"""

import socket
import threading
import time

import pytest

import outbound
from monitoring.checks import probe
from outbound import Message, send
from tests.receivers import Trickler

SLACK = 0.5  # what the bound allows beyond the deadline (scheduling, closing the socket)
MESSAGE = Message("check_down", "Down", "api is down", {}, "check:api:down")


def elapsed_of(call):
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except outbound.OutboundError as exc:
        return exc, time.monotonic() - started


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_a_receiver_that_trickles_is_cut_off_at_the_whole_request_deadline(mode):
    with Trickler(mode) as trickler:
        outcome, took = elapsed_of(lambda: outbound.request("GET", trickler.url(), timeout=1.0))
    assert isinstance(outcome, outbound.OutboundError), outcome
    assert took < 1.0 + SLACK, f"a 1 s deadline took {took:.2f} s against a receiver trickling its {mode}"
    assert took >= 0.9  # it did wait for the receiver until the deadline
    phase = "waiting for the response headers" if mode == "headers" else "reading the response body"
    assert str(outcome) == f"timed out after 1 s while {phase}"
    assert trickler.connections == 1


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_a_webhook_to_a_trickling_receiver_fails_at_its_deadline(mode):
    with Trickler(mode) as trickler:
        started = time.monotonic()
        attempt = send("webhook", trickler.url("/hook"), MESSAGE, timeout=1.0)
        took = time.monotonic() - started
    assert took < 1.0 + SLACK
    assert not attempt.ok and attempt.status_code is None
    assert attempt.error.startswith("could not deliver: timed out after 1 s while ")


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_a_health_check_against_a_trickling_server_is_unhealthy_at_its_timeout(mode):
    with Trickler(mode) as trickler:
        started = time.monotonic()
        result = probe(trickler.url("/health"), "GET", 200, 800)
        took = time.monotonic() - started
    assert took < 0.8 + SLACK
    assert not result.healthy and result.actual_status is None
    assert result.error is not None and result.error.startswith("timed out after 800 ms while ")
    assert 700 <= result.response_time_ms < 800 + SLACK * 1000


def test_a_tls_handshake_that_never_completes_ends_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts the connection, never speaks TLS
    try:
        outcome, took = elapsed_of(
            lambda: outbound.request("GET", f"https://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.6)
        )
    finally:
        listener.close()
    assert isinstance(outcome, outbound.OutboundError)
    assert str(outcome) == "timed out after 0.6 s while connecting (TLS)"
    assert took < 0.6 + SLACK


@pytest.fixture
def slow_dns(monkeypatch):
    """A resolver that takes 5 s to answer (a DNS server that drops packets): the one thing here outside the
    machine, so the one thing replaced."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host, *args, **kwargs):
        if host.endswith(".slow.example"):
            release.wait(5)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()


def test_a_slow_name_lookup_counts_against_the_request_deadline(slow_dns):
    outcome, took = elapsed_of(lambda: outbound.request("GET", "http://api.slow.example/health", timeout=0.8))
    assert isinstance(outcome, outbound.OutboundError)
    assert str(outcome) == "timed out after 0.8 s while resolving api.slow.example"
    assert took < 0.8 + SLACK


def test_saving_a_url_waits_for_its_name_lookup_only_so_long(slow_dns, settings):
    settings.OUTBOUND_DNS_TIMEOUT_SECONDS = 0.5
    started = time.monotonic()
    outbound.validate_outbound_url("https://hooks.slow.example/endpoint")  # accepted: request() checks again
    assert time.monotonic() - started < 0.5 + SLACK


def test_many_slow_lookups_at_once_each_end_in_time(slow_dns, settings):
    # More lookups than the resolver has threads: the ones waiting for a thread time out too, none piles up.
    settings.OUTBOUND_DNS_TIMEOUT_SECONDS = 0.5
    took = []

    def save():
        started = time.monotonic()
        outbound.validate_outbound_url("https://many.slow.example/")
        took.append(time.monotonic() - started)

    threads = [threading.Thread(target=save) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(took) == 20 and max(took) < 0.5 + SLACK
