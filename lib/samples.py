"""Honest numbers: a percentile is shown only over enough samples; below that, the count and the maximum.

    spread = Spread.of(count=3, average=1200.0, p95=2100.0, maximum=2300.0, noun=("run", "runs"),
                       formatter=format_duration)
    spread.p95            # None: 3 runs are too few for a p95
    spread.tail           # "longest 2.3 s of 3 runs"

The one rule for Insights, the monitoring pages and the API (MIN_PERCENTILE_SAMPLES): one home, so a page cannot
show a p95 of a single run while another refuses it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

# Below this many samples a 95th percentile is the largest value or close to it: we show the maximum instead.
MIN_PERCENTILE_SAMPLES = 20


def enough_for_percentile(count: int) -> bool:
    return count >= MIN_PERCENTILE_SAMPLES


def counted(count: int, noun: tuple[str, str]) -> str:
    """'1 run', '20 runs', '1,204 events'."""
    return f"{count:,} {noun[0] if count == 1 else noun[1]}"


def _plain(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Spread:
    """A measured quantity over `count` samples: average, p95 (only over enough samples) and the maximum."""

    count: int
    average: float | None
    p95: float | None
    maximum: float | None
    noun: tuple[str, str] = ("sample", "samples")
    formatter: Callable[[float], str] = field(default=_plain, repr=False, compare=False)

    @classmethod
    def of(cls, *, count: int, average: float | None, p95: float | None, maximum: float | None,
           noun: tuple[str, str] = ("sample", "samples"), formatter: Callable[[float], str] = _plain) -> "Spread":
        """The only constructor callers use: it drops a p95 computed over too few samples."""
        return cls(count, average if count else None, p95 if enough_for_percentile(count) else None,
                   maximum if count else None, noun, formatter)

    @property
    def has_percentile(self) -> bool:
        return self.p95 is not None

    @property
    def samples(self) -> str:
        """'20 runs'."""
        return counted(self.count, self.noun)

    @property
    def p95_text(self) -> str:
        return self.formatter(self.p95) if self.p95 is not None else "—"

    @property
    def average_text(self) -> str:
        return self.formatter(self.average) if self.average is not None else "—"

    @property
    def maximum_text(self) -> str:
        return self.formatter(self.maximum) if self.maximum is not None else "—"

    @property
    def tail(self) -> str:
        """The slow end in words: 'p95 4.1 s from 20 runs', 'longest 2.3 s of 3 runs', or 'no timed runs'."""
        if not self.count:
            return f"no timed {self.noun[1]}"
        if self.has_percentile:
            return f"p95 {self.p95_text} from {self.samples}"
        if self.count == 1:
            return f"{self.maximum_text}, a single {self.noun[0]}"
        return f"longest {self.maximum_text} of {self.samples}"

    @property
    def average_words(self) -> str:
        """'1.2 s on average over 3 runs'."""
        if not self.count:
            return f"no timed {self.noun[1]}"
        if self.count == 1:
            return f"{self.average_text} (1 {self.noun[0]})"
        return f"{self.average_text} on average over {self.samples}"

    def as_dict(self) -> dict:
        return {"count": self.count, "average": self.average, "p95": self.p95, "maximum": self.maximum,
                "percentile_min_samples": MIN_PERCENTILE_SAMPLES}
