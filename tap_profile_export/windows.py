"""Time windows for incremental event exports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone


def utc_now() -> datetime:
    """Current time in UTC, whole seconds."""
    return datetime.now(timezone.utc).replace(microsecond=0)


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
    for late-arriving events. Unless another pinned window continues it, the range then goes
    on from there, so the late events its export could not hold are read by the next window.
    `first_extra` lets the first window run that much longer than `max_days` (it starts with
    the overlap re-read before a bookmark, which should not cost an extra export).
    """
    pinned_by_start = {p[0]: (p[1], p[2] if len(p) > 2 else p[1]) for p in pinned}
    windows: list[Window] = []
    cursor = start
    step = timedelta(days=max_days) if max_days else None
    while cursor < end:
        if cursor in pinned_by_start:
            window_end, complete = pinned_by_start[cursor]
            windows.append((cursor, window_end))
            if window_end in pinned_by_start or window_end >= end or \
                    not cursor < complete < window_end:
                cursor = window_end
            else:
                cursor = complete
            continue
        if step:
            window_end = min(end, cursor + step + (first_extra if not windows else timedelta(0)))
        else:
            window_end = end
        # Stop where an in-flight window starts, so it is resumed rather than re-exported.
        window_end = min((s for s in pinned_by_start if cursor < s < window_end),
                         default=window_end)
        windows.append((cursor, window_end))
        cursor = window_end
    return windows
