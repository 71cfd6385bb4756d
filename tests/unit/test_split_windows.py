"""Splitting an event window whose export fails for its size: the halves, split again down to
one hour, always partition the original window exactly (no gap, no overlap, nothing outside)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tap_profile_export.exports import ExportSpec
from tap_profile_export.exports.model import MIN_SPLIT_WINDOW, halve

T0 = datetime(2026, 3, 29, 0, 30, 17, tzinfo=timezone.utc)  # a DST night, odd seconds


def split_fully(window: tuple[datetime, datetime],
                fails: Callable[[tuple[datetime, datetime]], bool]
                ) -> list[tuple[datetime, datetime]]:
    """Split as the coordinator would when `fails(window)` says its export failed."""
    if not fails(window):
        return [window]
    halves = halve(window)
    if halves is None:
        return [window]
    return [piece for half in halves for piece in split_fully(half, fails)]


@given(start_seconds=st.integers(0, 10**8), length_seconds=st.integers(1, 200 * 86400),
       data=st.data())
def test_splitting_any_window_down_to_an_hour_partitions_it(start_seconds: int,
                                                            length_seconds: int,
                                                            data: st.DataObject) -> None:
    start = T0 + timedelta(seconds=start_seconds)
    window = (start, start + timedelta(seconds=length_seconds))
    pieces = split_fully(window, lambda w: data.draw(st.booleans(), label=f"{w} fails"))
    assert pieces[0][0] == window[0] and pieces[-1][1] == window[1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert all(a < b for a, b in pieces)
    if len(pieces) > 1:
        assert all(b - a >= MIN_SPLIT_WINDOW for a, b in pieces)
        assert all(p.microsecond == 0 for w in pieces for p in w)


def test_under_two_hours_is_not_split_and_the_spec_keeps_the_vendors_fields() -> None:
    assert halve((T0, T0 + timedelta(minutes=119))) is None
    first, second = halve((T0, T0 + timedelta(hours=2))) or []
    assert first == (T0, T0 + timedelta(hours=1)) and second[1] == T0 + timedelta(hours=2)
    spec = ExportSpec("apsis", "events", "events", window=(T0, T0 + timedelta(hours=2)),
                      request={"events": ["e"], "start_at": "x", "end_at": "y"})
    half = spec.for_window(first, ("start_at", "end_at"))
    assert half.request == {"events": ["e"], "start_at": "2026-03-29T00:30:17Z",
                            "end_at": "2026-03-29T01:30:17Z"}
    assert half.key != spec.key and spec.request["start_at"] == "x"
