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


def next_fires(expression: str, tz_name: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` fire times after `after`, in UTC (each one as next_fire would compute it)."""
    times = []
    for _ in range(count):
        after = next_fire(expression, tz_name, after)
        times.append(after)
    return times


# --- a plain-English reading of an expression -------------------------------------------------------------------

DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"]
_ALIASES = {name[:3].lower(): i for i, name in enumerate(DAY_NAMES)} | {
    name[:3].lower(): i + 1 for i, name in enumerate(MONTH_NAMES)
}


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _ALIASES[text.lower()]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _items(field: str, name) -> list[str]:
    """Each comma-separated part of a field in words, `name(n)` naming one value."""
    words = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            span = ""
        elif "-" in base:
            low, high = base.split("-", 1)
            span = f"{name(_number(low))} through {name(_number(high))}"
        else:
            span = name(_number(base))
        if step:
            words.append(f"every {step}{'' if not span else ' from ' + span}")
        else:
            words.append(span or "every")
    return words


def _single(field: str) -> bool:
    return field.isdigit()


def _time_of_day(minute: str, hour: str) -> str:
    if _single(minute) and all(p.isdigit() for p in hour.split(",")):
        return "at " + _join([f"{int(h):02d}:{int(minute):02d}" for h in hour.split(",")])
    if minute == "*" and hour == "*":
        return "every minute"
    if minute.startswith("*/") and hour == "*":
        return f"every {minute[2:]} minutes"
    if _single(minute) and hour == "*":
        return "every hour" if minute == "0" else f"every hour at {int(minute)} minute{'s' if minute != '1' else ''} past"
    if _single(minute) and hour.startswith("*/") and "," not in hour:
        return f"every {hour[2:]} hours at :{int(minute):02d} (from 00:{int(minute):02d})"
    if minute == "*":
        minutes = "every minute"
    elif minute.startswith("*/") and minute[2:].isdigit():
        minutes = f"every {minute[2:]} minutes"
    else:
        minutes = ("at minutes " if "," in minute or "-" in minute else "at minute ") + _join(_items(minute, str))
    if hour == "*":
        return minutes
    low, dash, high = hour.partition("-")
    if dash and low.isdigit() and high.isdigit():
        return f"{minutes} from {int(low):02d}:00 through {int(high):02d}:59"
    return f"{minutes} past hour " + _join(_items(hour, lambda n: f"{n:02d}"))


def describe(expression: str) -> str:
    """'0 6 * * 1-5' → 'At 06:00 on Monday through Friday'. Assumes a valid expression (validate_cron first)."""
    try:
        return _describe(expression)
    except (KeyError, ValueError, IndexError):  # croniter extensions (L, #, W) are not put into words
        return f"As the cron expression '{expression}' says"


def _describe(expression: str) -> str:
    minute, hour, dom, month, dow = expression.split()
    text = _time_of_day(minute, hour)
    days = []
    if dom != "*":
        days.append(("on days " if "," in dom or "-" in dom else "on day ") + _join(_items(dom, str)) + " of the month")
    if dow != "*":
        days.append("on " + _join(_items(dow, lambda n: DAY_NAMES[n % 7])))
    # With both set, cron fires when either matches.
    if days:
        text += " " + " or ".join(days)
    elif not text.startswith("every"):
        text += " every day"
    if month != "*":
        text += " in " + _join(_items(month, lambda n: MONTH_NAMES[n - 1]))
    return (text[0].upper() + text[1:]).replace("  ", " ").strip()
