"""The sandbox's calendar: a fixed anchor day, never the day the suite runs.

Synthetic data ends at the anchor (midnight UTC) and the simulated wall clock starts at noon
of that day, then runs at real speed. `SANDBOX_ANCHOR` moves the anchor (a date or an RFC 3339
instant, floored to midnight UTC) so a suite can be run as if on another day: a month end,
29 February, a DST switch, 31 December. A test harness hands the same clock to the taps
it starts, so neither side reads the real date.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

ANCHOR_ENV = "SANDBOX_ANCHOR"
DEFAULT_ANCHOR = datetime(2026, 6, 15, tzinfo=timezone.utc)
#: Where on the anchor day the simulated clock starts: late enough that every event stamped
#: before the anchor has arrived (arrival delays are at most a few hours).
START_OF_DAY = timedelta(hours=12)

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ].*)?")


def anchor_from_env() -> datetime:
    """The anchor day: `SANDBOX_ANCHOR` (floored to midnight UTC) or `DEFAULT_ANCHOR`."""
    value = os.environ.get(ANCHOR_ENV, "").strip()
    if not value:
        return DEFAULT_ANCHOR
    match = _DATE.fullmatch(value)
    if match is None:
        raise ValueError(f"{ANCHOR_ENV}={value!r}: expected a date such as 2028-02-29")
    year, month, day = (int(g) for g in match.groups())
    return datetime(year, month, day, tzinfo=timezone.utc)


class SimulatedClock:
    """A wall clock that reads `start` when made and then runs at real speed."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._made = time.monotonic()

    def now(self) -> datetime:
        """The simulated current time."""
        return self.start + timedelta(seconds=time.monotonic() - self._made)


class RealClock:
    """The machine's clock (the demo sandbox, where the tap runs on real time too)."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(timezone.utc)


#: The simulated wall clock of this process: every sandbox and every tap run a test starts
#: read the same time.
WORLD = SimulatedClock(anchor_from_env() + START_OF_DAY)
