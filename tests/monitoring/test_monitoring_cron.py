"""Cron expressions: validation messages and next fire times, including daylight-saving changes."""

from datetime import UTC, datetime

import pytest

from monitoring.cron import CronError, next_fire, validate_cron, validate_timezone


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "five fields"),
        ("* * * *", "has 4"),
        ("0 0 * * * *", "has 6"),
        ("61 * * * *", "minute field '61'"),
        ("0 25 * * *", "hour field '25'"),
        ("0 0 32 * *", "day-of-month field '32'"),
        ("0 0 * 13 *", "month field '13'"),
        ("0 0 * * 8", "day-of-week field '8'"),
        ("0 0 30 2 *", "never fires"),
        ("every day", "has 2"),
    ],
)
def test_invalid_cron_is_rejected_with_a_message_naming_the_problem(expression, message):
    with pytest.raises(CronError, match=message):
        validate_cron(expression)


def test_valid_cron_is_normalised():
    assert validate_cron("  0   6 * *  1-5 ") == "0 6 * * 1-5"


def test_unknown_time_zone_is_rejected():
    with pytest.raises(CronError, match="Unknown time zone 'Mars/Olympus'"):
        validate_timezone("Mars/Olympus")


def test_next_fire_is_strictly_after_and_in_the_schedules_time_zone():
    # 06:00 in Berlin (UTC+1 in January) is 05:00 UTC.
    assert next_fire("0 6 * * *", "Europe/Berlin", utc(2026, 1, 10, 4, 0)) == utc(2026, 1, 10, 5, 0)
    assert next_fire("0 6 * * *", "Europe/Berlin", utc(2026, 1, 10, 5, 0)) == utc(2026, 1, 11, 5, 0)


def test_weekday_schedule_skips_the_weekend():
    # Friday 2026-01-09 after 06:00 → Monday 2026-01-12 06:00 UTC.
    assert next_fire("0 6 * * 1-5", "UTC", utc(2026, 1, 9, 7, 0)) == utc(2026, 1, 12, 6, 0)


def test_leap_day_schedule_waits_for_the_next_leap_year():
    assert next_fire("0 0 29 2 *", "UTC", utc(2026, 3, 1)) == utc(2028, 2, 29)


def test_month_end_rolls_to_the_next_month_with_that_day():
    assert next_fire("0 12 31 * *", "UTC", utc(2026, 4, 1)) == utc(2026, 5, 31, 12, 0)


def test_spring_forward_gap_time_runs_once_right_after_the_change():
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    # It fires at 03:30 CEST (01:30 UTC), once, then the next day at 02:30 CEST (00:30 UTC).
    first = next_fire("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 0))
    assert first == utc(2026, 3, 29, 1, 30)
    assert next_fire("30 2 * * *", "Europe/Berlin", first) == utc(2026, 3, 30, 0, 30)


def test_fall_back_repeated_time_runs_only_once():
    # New York 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice (05:30 and 06:30 UTC).
    first = next_fire("30 1 * * *", "America/New_York", utc(2026, 11, 1, 4, 0))
    assert first == utc(2026, 11, 1, 5, 30)
    second = next_fire("30 1 * * *", "America/New_York", first)
    assert second == utc(2026, 11, 2, 6, 30)  # the next day, not the repeated 01:30 an hour later


def test_daily_schedule_keeps_its_local_time_across_the_change():
    # 09:00 Berlin is 08:00 UTC before the spring change and 07:00 UTC after it.
    before = next_fire("0 9 * * *", "Europe/Berlin", utc(2026, 3, 28, 9, 0))
    assert before == utc(2026, 3, 29, 7, 0)
    assert next_fire("0 9 * * *", "Europe/Berlin", utc(2026, 3, 27, 9, 0)) == utc(2026, 3, 28, 8, 0)


def test_hourly_schedule_during_fall_back_never_goes_backwards():
    moment = utc(2026, 11, 1, 3, 0)
    fires = []
    for _ in range(6):
        moment = next_fire("0 * * * *", "America/New_York", moment)
        fires.append(moment)
    assert fires == sorted(set(fires))
