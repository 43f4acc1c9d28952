"""Cron expressions read in a time zone: validation with a clear message, and the next fire time.

Times are iterated on the local wall clock and then placed on the time line, so each wall-clock time fires once:
a time skipped by a spring-forward change fires at the same offset into the new hour (02:30 → 03:30 CEST), and a
time repeated by a fall-back change fires on its first occurrence only.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, croniter

FIELDS = "minute hour day-of-month month day-of-week"


class CronError(ValueError):
    """A cron expression or time zone we cannot use; the message says what is wrong."""


def validate_cron(expression: str) -> str:
    """Return the normalised expression or raise CronError saying what is wrong."""
    expression = " ".join((expression or "").split())
    if not expression:
        raise CronError(f"Enter a cron expression with five fields ({FIELDS}), e.g. '0 6 * * 1-5'.")
    parts = expression.split(" ")
    if len(parts) != 5:
        raise CronError(
            f"A cron expression has five fields ({FIELDS}); '{expression}' has {len(parts)}."
        )
    if not croniter.is_valid(expression):
        names = FIELDS.split(" ")
        for name, part in zip(names, parts, strict=True):
            probe = ["*"] * 5
            probe[names.index(name)] = part
            if not croniter.is_valid(" ".join(probe)):
                raise CronError(f"The {name} field '{part}' is not valid in '{expression}'.")
        raise CronError(f"'{expression}' is not a valid cron expression.")
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise CronError(f"'{expression}' never fires (no such date), e.g. 30 February.") from None
    return expression


def validate_timezone(name: str) -> ZoneInfo:
    if name not in available_timezones():
        raise CronError(f"Unknown time zone '{name}': use an IANA name such as 'Europe/Berlin' or 'UTC'.")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - available_timezones() and ZoneInfo agree
        raise CronError(f"Unknown time zone '{name}'.") from None


def _to_aware(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as an aware UTC datetime; a time inside a spring-forward gap moves forward."""
    # fold=0: a repeated time means its first occurrence; a nonexistent time is read with the offset before the
    # change, i.e. the moment the clock would have shown it had it not jumped (02:30 CET = 03:30 CEST).
    return naive_local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_fire(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware), returned in UTC."""
    zone = validate_timezone(tz_name)
    local_after = after.astimezone(zone)
    # Start a minute back on the wall clock: after a fall-back change the local time can repeat.
    iterator = croniter(expression, local_after.replace(tzinfo=None) - timedelta(minutes=1))
    seen = 0
    while True:
        naive = iterator.get_next(datetime)
        when = _to_aware(naive, zone)
        if when > after:
            return when
        seen += 1
        if seen > 2000:  # pragma: no cover - validate_cron rejects expressions that never fire
            raise CronError(f"'{expression}' has no fire time after {after.isoformat()}.")
