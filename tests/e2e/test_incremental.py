"""Across runs: late-arriving events are read by the next run's overlap, and a future end_date
counts as now — the real CLI against the sandbox, its clock set to the runs' times."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.vendors.apsis.records import event_id
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

from .conftest import partition_state, run_tap


def vendor_config(sb: Sandbox, vendor: str, **top: Any) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config.update(top)
    return config


def event_ids(sb: Sandbox, vendor: str, start: datetime, end: datetime,
              as_of: datetime) -> set[str]:
    """Ids of the events stamped in `[start, end)` that had reached the vendor by `as_of`."""
    if vendor == "batch":
        return {line["event"]["id"]
                for line in sb.batch_sim.event_lines("EVENTS", start, end, as_of=as_of)}
    body = {"events": sb.apsis_sim.tap_config()["events"]}
    return {event_id(key, section, event)
            for key, section, event in sb.apsis_sim.expected_events(body, start, end, as_of)}


def boundary_with_a_late_event(sb: Sandbox, vendor: str, day_end: datetime
                               ) -> tuple[datetime, set[str]]:
    """The first hour boundary of the day before `day_end` with an event stamped in the 90
    minutes before it that reaches the vendor only after it: the test builds its case from
    the sandbox's data instead of hoping the day it runs on has one."""
    for hours in range(24, 0, -1):
        boundary = day_end - timedelta(hours=hours)
        stamped = boundary - timedelta(minutes=90)
        late = event_ids(sb, vendor, stamped, boundary, day_end + timedelta(days=1)) - \
            event_ids(sb, vendor, stamped, boundary, boundary)
        if late:
            return boundary, late
    raise AssertionError(f"no {vendor} event arrives late on the day before {day_end}: "
                         "raise late_minutes or the event count")


@pytest.mark.parametrize("vendor", ["batch", "apsis"])
def test_event_stamped_before_the_bookmark_but_arriving_later_is_read_next_run(
        sandbox: Sandbox, tmp_path: Path, vendor: str) -> None:
    sandbox.batch.events, sandbox.apsis.events_per_profile = 3000, 60  # ~100 a day
    sandbox.batch.late_minutes = sandbox.apsis.late_minutes = 90
    run1_end, late_near_the_end = boundary_with_a_late_event(
        sandbox, vendor, sandbox.anchor - timedelta(days=2))
    run2_end = run1_end + timedelta(days=1)
    start = run1_end - timedelta(days=1)

    sandbox.clock = run1_end
    first = run_tap(tmp_path, vendor_config(sandbox, vendor, start_date=to_rfc3339(start),
                                            end_date=to_rfc3339(run1_end)))
    assert first.returncode == 0, first.stderr[-3000:]
    sandbox.clock = run2_end
    second = run_tap(tmp_path, vendor_config(sandbox, vendor, start_date=to_rfc3339(start),
                                             end_date=to_rfc3339(run2_end)),
                     state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]

    first_ids = {e["event_id"] for e in first.records("events")}
    second_ids = {e["event_id"] for e in second.records("events")}
    late = event_ids(sandbox, vendor, start, run1_end, run2_end) - event_ids(
        sandbox, vendor, start, run1_end, run1_end)
    assert late_near_the_end <= late
    assert not late & first_ids
    assert late <= second_ids, "an event that arrived late was never exported"
    assert first_ids | second_ids == event_ids(sandbox, vendor, start, run2_end, run2_end)
    state = partition_state(second.last_state, "events", source=vendor)
    assert state["replication_key_value"] == to_rfc3339(run2_end)


def test_future_end_date_counts_as_now(sandbox: Sandbox, tmp_path: Path) -> None:
    future = sandbox.wall.now() + timedelta(days=2)
    config = vendor_config(sandbox, "batch", start_date=to_rfc3339(sandbox.anchor
                                                                    - timedelta(days=5)),
                           end_date=to_rfc3339(future))
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    after = sandbox.wall.now()
    assert f"end_date {to_rfc3339(future)} is in the future" in run.stderr
    creates = [r.json for r in sandbox.requests() if r.path == "/2.4/profiles/export"
               and r.json.get("export_type") in ("EVENTS", "REACHABILITY")]
    assert len(creates) == 2 and all(parse_rfc3339(c["to"]) <= after for c in creates)
    for stream in ("events", "reachability_events"):
        bookmark = partition_state(run.last_state, stream, source="batch")[
            "replication_key_value"]
        assert parse_rfc3339(bookmark) <= after


@pytest.mark.parametrize("vendor", ["batch", "apsis"])
def test_bookmark_never_passes_the_vendors_export_time(sandbox: Sandbox, tmp_path: Path,
                                                      vendor: str) -> None:
    """The vendor's clock (its `Date` answer) is behind the window's end: the export holds
    nothing later, so the bookmark stops at its creation time and the next run goes on there."""
    sandbox.clock = sandbox.anchor - timedelta(days=2)
    config = vendor_config(sandbox, vendor, start_date=to_rfc3339(sandbox.anchor
                                                                   - timedelta(days=5)),
                           end_date=to_rfc3339(sandbox.anchor))
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    state = partition_state(run.last_state, "events", source=vendor)
    assert state["replication_key_value"] == to_rfc3339(sandbox.clock)


def test_clock_variable_is_the_runs_now(sandbox: Sandbox, tmp_path: Path) -> None:
    """`TAP_PROFILE_EXPORT_NOW` replays a run of another day: without end_date its windows end
    at that instant, and the 90-day lookback is counted back from it."""
    sandbox.clock = then = sandbox.anchor - timedelta(days=40, hours=3)
    config = vendor_config(sandbox, "batch", start_date=to_rfc3339(then - timedelta(days=120)))
    run = run_tap(tmp_path, config, env={"TAP_PROFILE_EXPORT_NOW": to_rfc3339(then)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "TAP_PROFILE_EXPORT_NOW is set: this run's clock reads " \
        f"{to_rfc3339(then)[:15]}" in run.stderr  # to the ten minutes: it runs from the start
    assert ", not the wall clock's " in run.stderr
    creates = [r.json for r in sandbox.requests() if r.path == "/2.4/profiles/export"
               and r.json.get("export_type") == "EVENTS"]
    assert len(creates) == 1
    sent_from, sent_to = parse_rfc3339(creates[0]["from"]), parse_rfc3339(creates[0]["to"])
    assert then <= sent_to < then + timedelta(seconds=30)
    assert then - timedelta(days=90) < sent_from <= then - timedelta(days=89)
    assert {e["event_id"] for e in run.records("events")} == event_ids(
        sandbox, "batch", sent_from, sent_to, then)
