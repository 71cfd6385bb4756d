"""Window splitting: contiguous, half-open, capped, resumed windows kept."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from tap_profile_export.errors import SettingError
from tap_profile_export.windows import (
    CLOCK_ENV,
    clock_offset,
    parse_rfc3339,
    split_windows,
    to_rfc3339,
    utc_now,
)

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_windows_are_contiguous_and_capped() -> None:
    end = T0 + timedelta(days=20, hours=5)
    windows = split_windows(T0, end, 7)
    assert [w[1] - w[0] for w in windows] == [timedelta(days=7)] * 2 + [timedelta(days=6, hours=5)]
    assert windows[0][0] == T0 and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


def test_no_cap_gives_one_window_and_empty_range_none() -> None:
    assert split_windows(T0, T0 + timedelta(days=40), None) == [(T0, T0 + timedelta(days=40))]
    assert split_windows(T0, T0, 7) == []


def test_pinned_in_flight_window_is_kept() -> None:
    pinned = (T0, T0 + timedelta(days=3))
    windows = split_windows(T0, T0 + timedelta(days=10), 7, [pinned])
    assert windows == [pinned, (T0 + timedelta(days=3), T0 + timedelta(days=10))]


def test_rfc3339_round_trip() -> None:
    assert to_rfc3339(parse_rfc3339("2025-01-02T03:04:05+00:00")) == "2025-01-02T03:04:05Z"
    assert parse_rfc3339("2025-01-02T03:04:05") == datetime(2025, 1, 2, 3, 4, 5,
                                                            tzinfo=timezone.utc)


def test_after_an_older_pinned_export_the_range_goes_on_from_where_it_is_complete() -> None:
    end = T0 + timedelta(days=3)
    complete = T0 + timedelta(days=1, hours=-2)  # its export was created at its end, minus 2 h
    old = (T0, T0 + timedelta(days=1), complete)
    assert split_windows(T0, end, None, [old]) == [old[:2], (complete, end)]
    # ...and when another pinned window continues it, from there after the last of them —
    # also when that one reaches the end (the next run's overlap would not reach back).
    nxt = (T0 + timedelta(days=1), end, end)
    assert split_windows(T0, end, None, [old, nxt]) == [old[:2], nxt[:2], (complete, end)]
    # A lone window reaching the end is left to the next run's overlap.
    assert split_windows(T0, old[1], None, [old]) == [old[:2]]


def test_late_events_at_every_boundary_between_pinned_windows_are_read_again() -> None:
    """A killed run's windows of 24 h, 24 h and 1 h, all exported at the end of the last one:
    the exports of the last two hold none of the late events of their final 2 hours."""
    t1 = T0 + timedelta(days=2, hours=1)
    created = t1
    overlap = timedelta(hours=2)
    pinned = [(T0, T0 + timedelta(days=1), created - overlap),
              (T0 + timedelta(days=1), t1 - timedelta(hours=1), created - overlap),
              (t1 - timedelta(hours=1), t1, created - overlap)]
    end = t1 + timedelta(days=1)
    windows = split_windows(T0, end, 1, pinned)
    assert windows[:3] == [p[:2] for p in pinned]
    assert windows[3][0] == t1 - overlap  # back to the earliest incomplete instant
    assert windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows[3:]))


def test_first_window_may_carry_the_overlap() -> None:
    start = T0 - timedelta(hours=2)
    windows = split_windows(start, T0 + timedelta(days=7), 7, first_extra=timedelta(hours=2))
    assert windows == [(start, T0 + timedelta(days=7))]
    windows = split_windows(start, T0 + timedelta(days=8), 7, first_extra=timedelta(hours=2))
    assert windows == [(start, T0 + timedelta(days=7)), (T0 + timedelta(days=7),
                                                         T0 + timedelta(days=8))]


def test_a_window_in_flight_inside_the_range_is_kept_and_the_range_split_around_it() -> None:
    # State from a run that planned without the overlap: its window starts after the range does.
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    pinned = (start + timedelta(hours=2), start + timedelta(days=3))
    windows = split_windows(start, start + timedelta(days=5), None, [pinned])
    assert windows == [(start, pinned[0]), pinned, (pinned[1], start + timedelta(days=5))]


def test_clock_variable_moves_the_taps_clock_and_it_keeps_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLOCK_ENV, "2028-02-29T23:59:58Z")
    clock_offset.cache_clear()
    try:
        first = utc_now()
        assert datetime(2028, 2, 29, 23, 59, 58, tzinfo=timezone.utc) <= first \
            < datetime(2028, 2, 29, 23, 59, 58, tzinfo=timezone.utc) + timedelta(seconds=5)
        monkeypatch.setenv(CLOCK_ENV, "1999-01-01T00:00:00Z")  # read once per process
        assert first <= utc_now() < first + timedelta(seconds=5)
        monkeypatch.delenv(CLOCK_ENV)
        clock_offset.cache_clear()
        assert abs(utc_now() - datetime.now(timezone.utc)) < timedelta(seconds=2)
    finally:
        clock_offset.cache_clear()


def test_clock_variable_that_is_not_a_date_time_names_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLOCK_ENV, "tomorrow")
    clock_offset.cache_clear()
    try:
        with pytest.raises(SettingError, match=f"{CLOCK_ENV}.*'tomorrow'.*RFC 3339"):
            utc_now()
    finally:
        clock_offset.cache_clear()
