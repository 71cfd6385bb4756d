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
                  pinned: Iterable[Window] = ()) -> list[Window]:
    """Cut `[start, end)` into consecutive half-open windows of at most `max_days`.

    `pinned` windows (exports already in flight from an earlier run) are kept as they are when
    they start where the range continues, so a resumed export is read instead of re-created.
    """
    pinned_by_start = {s: e for s, e in pinned}
    windows: list[Window] = []
    cursor = start
    step = timedelta(days=max_days) if max_days else None
    while cursor < end:
        if cursor in pinned_by_start:
            window_end = pinned_by_start[cursor]
        else:
            window_end = min(end, cursor + step) if step else end
        windows.append((cursor, window_end))
        cursor = window_end
    return windows
