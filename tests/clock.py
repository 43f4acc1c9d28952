"""`TEST_CLOCK_AHEAD_DAYS=N`: every test process, and every Python process a system test starts, believes it is N days
later than it is (time-machine's travel, ticking; the monotonic clock, which timed waits use, is left alone).

CI runs the fast suite a second time with N=400, so a test that only passes around today's date fails there.
libfaketime would move the whole process, but Debian's 0.9.10 either breaks `time.sleep` (EINVAL, with only the
wall clock faked) or blocks timed waits for good (`sem_clockwait`, with both clocks faked).
"""

import os
from datetime import UTC, datetime, timedelta

import time_machine

VARIABLE = "TEST_CLOCK_AHEAD_DAYS"


def days_ahead() -> int:
    return int(os.environ.get(VARIABLE) or 0)


def travel_if_asked():
    """Start the travel for the rest of this process; returns it (or None when the clock is not moved)."""
    if not days_ahead():
        return None
    traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days_ahead()), tick=True)
    traveller.start()
    return traveller
