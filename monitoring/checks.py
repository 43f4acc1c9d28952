"""Running one HTTP health check. `probe` touches no database, so the daemon runs many at once in threads."""

import time
from dataclasses import dataclass

import outbound

USER_AGENT = "ActivityHub-monitor/1"


@dataclass
class ProbeResult:
    healthy: bool
    actual_status: int | None
    response_time_ms: int
    error: str | None


def probe(url: str, method: str, expected_status: int, timeout_ms: int) -> ProbeResult:
    # Redirects are not followed: a check compares the first response's status (a 301 may be what is expected).
    started = time.perf_counter()
    status, error = None, None
    try:
        response = outbound.request(method, url, headers={"User-Agent": USER_AGENT}, timeout=timeout_ms / 1000)
        status = response.status
    except outbound.OutboundBlocked as exc:
        error = f"refused: {exc}"
    except outbound.OutboundTimeout as exc:  # the whole request's deadline: lookup, connection, headers and body
        error = f"timed out after {timeout_ms} ms while {exc.phase}"
    except outbound.OutboundError as exc:
        error = str(exc)
    elapsed = int((time.perf_counter() - started) * 1000)
    if error is None and status != expected_status:
        error = f"expected HTTP {expected_status}, got {status}"
    return ProbeResult(healthy=error is None, actual_status=status, response_time_ms=elapsed, error=error)
