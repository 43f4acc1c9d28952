"""Cron expressions read in a time zone: validation with a clear message, the next fire times, a reading in words.

Parsing and matching are cronsim's (Debian cron's rules: when both day fields are restricted, either one matching
fires), the reading is cron-descriptor's. Times are iterated on the local wall clock and then placed on the time
line, so each wall-clock time fires once: a time skipped by a spring-forward change fires at the same offset into
the new hour (02:30 → 03:30 CEST), and a time repeated by a fall-back change fires on its first occurrence only.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, FormatError, MissingFieldError, Options, WrongArgumentError
from cronsim import CronSim, CronSimError

FIELDS = "minute hour day-of-month month day-of-week"


class CronError(ValueError):
    """A cron expression or time zone we cannot use; the message says what is wrong."""


def _parses(expression: str) -> bool:
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError:
        return False
    return True


def _fires(expression: str) -> bool:
    try:
        next(CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration):
        return False
    return True


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
    if not _parses(expression):
        names = FIELDS.split(" ")
        for index, (name, part) in enumerate(zip(names, parts, strict=True)):
            probe = ["*"] * 5
            probe[index] = part
            if not _parses(" ".join(probe)):
                raise CronError(f"The {name} field '{part}' is not valid in '{expression}'.")
    # Every field is fine on its own, but together they may name no date (30 February).
    if not _fires(expression):
        raise CronError(f"'{expression}' never fires (no such date), e.g. 30 February.")
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
    # Naive wall-clock iteration (cronsim applies no DST rule of its own to a naive start); start a minute back
    # because after a fall-back change the local time can repeat.
    iterator = CronSim(expression, local_after.replace(tzinfo=None, microsecond=0) - timedelta(minutes=1))
    for seen, naive in enumerate(iterator):
        when = _to_aware(naive, zone)
        if when > after:
            return when
        if seen > 2000:  # pragma: no cover - validate_cron rejects expressions that never fire
            break
    raise CronError(f"'{expression}' has no fire time after {after.isoformat()}.")


def next_fires(expression: str, tz_name: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` fire times after `after`, in UTC (each one as next_fire would compute it)."""
    times = []
    for _ in range(count):
        after = next_fire(expression, tz_name, after)
        times.append(after)
    return times


@dataclass(frozen=True)
class FireTime:
    """One expected run, on the schedule's clock and in UTC (`local` is aware, in the schedule's zone)."""

    utc: datetime
    local: datetime

    @property
    def same_clock(self) -> bool:
        return self.local.utcoffset() == timedelta(0) and self.local.tzname() in ("UTC", "GMT", "Z")

    def words(self) -> str:
        """'Mon 2026-03-30 02:30 CEST (00:30 UTC)', or just '… 02:30 UTC' for a schedule kept in UTC."""
        local = f"{self.local:%a %Y-%m-%d %H:%M} {self.local.tzname()}"
        if self.same_clock:
            return local
        return f"{local} ({self.utc:%H:%M} UTC)" if self.local.date() == self.utc.date() else (
            f"{local} ({self.utc:%a %H:%M} UTC)"
        )


def fire_time(moment: datetime, tz_name: str) -> FireTime:
    """A moment as the schedule reads it: on its own clock and in UTC."""
    return FireTime(utc=moment.astimezone(UTC), local=moment.astimezone(validate_timezone(tz_name)))


# --- a plain-English reading of an expression -------------------------------------------------------------------

_READING = Options(locale_code="en_US", use_24hour_time_format=True, verbose=False)


def describe(expression: str) -> str:
    """'0 6 * * 1-5' → 'At 06:00, Monday through Friday'. Assumes a valid expression (validate_cron first).

    cron-descriptor's short reading, with two touches: a time with no day restriction says "every day" (its
    verbose mode would also add "every hour" to every reading), and "At 0 minutes past the hour" is "On the hour".
    """
    try:
        text = ExpressionDescriptor(expression, _READING).get_description()
    except (FormatError, MissingFieldError, WrongArgumentError, ValueError, KeyError, IndexError):
        return f"As the cron expression '{expression}' says"
    text = text.replace("At 0 minutes past the hour", "On the hour")
    if expression.split()[2:] == ["*", "*", "*"] and "every" not in text.lower():
        text += ", every day"
    return text
