"""Time windows for incremental event exports."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from tap_profile_export.errors import SettingError

#: Environment variable that moves the tap's clock: the run behaves as if the wall clock had
#: read this RFC 3339 instant when the tap started (windows, the default end_date, lookbacks,
#: link ages). For reproducing a run of another day and for tests; unset in production.
CLOCK_ENV = "TAP_PROFILE_EXPORT_NOW"


def utc_now() -> datetime:
    """The tap's current time in UTC, whole seconds (the wall clock unless `CLOCK_ENV` moves
    it)."""
    offset = clock_offset()  # first: its first call reads the wall clock too
    return (datetime.now(timezone.utc) + offset).replace(microsecond=0)


@functools.cache
def clock_offset() -> timedelta:
    """How far `CLOCK_ENV` moves the tap's clock from the wall clock (fixed at first use)."""
    value = os.environ.get(CLOCK_ENV, "").strip()
    if not value:
        return timedelta(0)
    try:
        start = parse_rfc3339(value)
    except ValueError:
        raise SettingError(CLOCK_ENV, f"{value!r} is not an RFC 3339 date-time such as "
                                      "2026-03-29T12:00:00Z; unset it to use the wall clock"
                           ) from None
    return start - datetime.now(timezone.utc)


def to_rfc3339(value: datetime) -> str:
    """`2025-01-02T03:04:05Z` (UTC, no fractional seconds)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


Window = tuple[datetime, datetime]


def split_windows(start: datetime, end: datetime, max_days: float | None,
                  pinned: Iterable[tuple[datetime, ...]] = (), *,
                  first_extra: timedelta = timedelta(0)) -> list[Window]:
    """Cut `[start, end)` into consecutive half-open windows of at most `max_days`.

    `pinned` windows (exports already in flight from an earlier run) are kept as they are when
    they start inside the range (a new window ends where one starts), so a resumed export is
    read instead of re-created.
    A pinned window may carry a third instant: up to where its (older) export is complete
    for late-arriving events. After the last of a run of consecutive pinned windows, the range
    goes on from the earliest such instant of any of them (or the window's start, when its
    export holds none of its late events), so the late events their exports could not hold
    are read by the next window — at the boundaries between them too.
    `first_extra` lets the first window run that much longer than `max_days` (it starts with
    the overlap re-read before a bookmark, which should not cost an extra export).
    """
    pinned_by_start = {p[0]: (p[1], p[2] if len(p) > 2 else p[1]) for p in pinned}
    used: set[datetime] = set()
    windows: list[Window] = []
    cursor = start
    step = timedelta(days=max_days) if max_days else None
    #: Where the late events of the pinned windows read so far start to be missing (None:
    #: every one of them is complete).
    incomplete_from: datetime | None = None
    while cursor < end:
        if cursor in pinned_by_start and cursor not in used:
            used.add(cursor)
            window_end, complete = pinned_by_start[cursor]
            windows.append((cursor, window_end))
            own = max(cursor, complete) if complete < window_end else None
            earlier = incomplete_from
            if own is not None:
                incomplete_from = min(incomplete_from or own, own)
            continues = window_end in pinned_by_start and window_end not in used
            # A window reaching the end is re-read by the next run's overlap, but not the
            # windows before it in the same pinned run.
            reread = incomplete_from is not None and (
                window_end < end or (earlier is not None and (own is None or earlier < own)))
            if (continues and window_end < end) or not reread:
                cursor = window_end
            else:
                # Back to the earliest instant any window of this pinned run is incomplete
                # from: the late events at the boundaries between them are read too.
                cursor = incomplete_from or window_end
            if not continues:
                incomplete_from = None
            continue
        if step:
            window_end = min(end, cursor + step + (first_extra if not windows else timedelta(0)))
        else:
            window_end = end
        # Stop where an in-flight window starts, so it is resumed rather than re-exported.
        window_end = min((s for s in pinned_by_start if cursor < s < window_end
                          and s not in used), default=window_end)
        windows.append((cursor, window_end))
        cursor = window_end
    return windows
