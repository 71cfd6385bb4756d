"""The sandbox's calendar comes from its anchor, never from the machine's date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from sandbox import Sandbox
from sandbox.timeline import ANCHOR_ENV, DEFAULT_ANCHOR, SimulatedClock, anchor_from_env


@pytest.mark.parametrize(("value", "day"), [
    ("", DEFAULT_ANCHOR),
    ("2028-02-29", datetime(2028, 2, 29, tzinfo=timezone.utc)),
    ("2027-03-28T01:30:00Z", datetime(2027, 3, 28, tzinfo=timezone.utc)),
])
def test_anchor_is_a_midnight_from_the_variable_or_the_fixed_default(
        monkeypatch: pytest.MonkeyPatch, value: str, day: datetime) -> None:
    monkeypatch.setenv(ANCHOR_ENV, value)
    assert anchor_from_env() == day


def test_anchor_that_is_not_a_date_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ANCHOR_ENV, "next monday")
    with pytest.raises(ValueError, match=f"{ANCHOR_ENV}='next monday'"):
        anchor_from_env()


def test_every_answer_is_dated_by_the_simulated_clock() -> None:
    with Sandbox(seed=2) as sb:
        started = sb.wall.now()
        assert sb.anchor == anchor_from_env()
        assert sb.anchor + timedelta(hours=12) <= started < sb.anchor + timedelta(days=1)
        answer = requests.get(f"{sb.api_url}/nowhere", timeout=5)
        date = datetime.strptime(answer.headers["Date"], "%a, %d %b %Y %H:%M:%S GMT"
                                 ).replace(tzinfo=timezone.utc)
        assert abs(date - started) < timedelta(seconds=5)
        sb.clock = datetime(2027, 12, 31, 23, 0, tzinfo=timezone.utc)
        assert sb.now() == sb.clock


def test_simulated_clock_runs_at_real_speed() -> None:
    clock = SimulatedClock(DEFAULT_ANCHOR)
    first = clock.now()
    assert DEFAULT_ANCHOR <= first < DEFAULT_ANCHOR + timedelta(seconds=1)
    assert clock.now() >= first
