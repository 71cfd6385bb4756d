"""Rate-limited INFO progress lines for long waits and downloads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

LOGGER = logging.getLogger("tap_profile_export.progress")
DEFAULT_EVERY_SECONDS = 10.0


def human_bytes(n: float | None) -> str:
    """1234567 → '1.2 MB' (decimal units, as vendors report sizes)."""
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class Throttle:
    """True at most once per `every` seconds (the first call is always True)."""

    def __init__(self, every: float = DEFAULT_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """Whether a line may be logged now; marks the time when it may."""
        now = self._clock()
        if self._last is None or now - self._last >= self.every:
            self._last = now
            return True
        return False


class ReadProgress:
    """Counts records and bytes of one export and logs them at a sane rate."""

    def __init__(self, label: str, *, every: float = DEFAULT_EVERY_SECONDS) -> None:
        self.label = label
        self.records = 0
        self.bytes_done = 0
        self.parts_done = 0
        self.started = time.monotonic()
        self._throttle = Throttle(every)
        self._throttle.ready()

    def rate(self) -> float:
        """Records per second since reading started."""
        elapsed = time.monotonic() - self.started
        return self.records / elapsed if elapsed > 0 else 0.0

    def tick(self, part_label: str, part_bytes: int, part_size: int | None,
             parts_total: int) -> None:
        """Log a progress line if the throttle allows (call per record or per batch)."""
        if self._throttle.ready():
            LOGGER.info(
                "%s: reading %s (%d/%d parts done), %s of %s, %d records, %.0f records/s",
                self.label, part_label, self.parts_done, parts_total, human_bytes(part_bytes),
                human_bytes(part_size), self.records, self.rate())
