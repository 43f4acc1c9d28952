"""Running one HTTP health check. `probe` touches no database, so the daemon runs many at once in threads."""

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "ActivityHub-monitor/1"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A check compares the first response's status with the expected one (a 301 may be what is expected).
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class ProbeResult:
    healthy: bool
    actual_status: int | None
    response_time_ms: int
    error: str | None


def probe(url: str, method: str, expected_status: int, timeout_ms: int) -> ProbeResult:
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": USER_AGENT})
    started = time.perf_counter()
    status, error = None, None
    try:
        with _opener.open(request, timeout=timeout_ms / 1000) as response:  # managers configure these URLs
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except TimeoutError:
        error = f"timed out after {timeout_ms} ms"
    except urllib.error.URLError as exc:
        reason = exc.reason
        error = f"timed out after {timeout_ms} ms" if isinstance(reason, TimeoutError) else f"connection failed: {reason}"
    except (OSError, ValueError) as exc:
        error = f"request failed: {exc}"
    elapsed = int((time.perf_counter() - started) * 1000)
    if error is None and status != expected_status:
        error = f"expected HTTP {expected_status}, got {status}"
    return ProbeResult(healthy=error is None, actual_status=status, response_time_ms=elapsed, error=error)
