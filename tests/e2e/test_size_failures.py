"""Exports that fail for their size: an event window whose export fails twice is split in
halves (down to one hour), each exported; the halves are kept in state, so a killed run
resumes them; a snapshot, which cannot be split by time, fails naming what to reduce. The
sandbox enforces a size limit (events per export) the way each vendor fails: Batch ends the
export in ERROR, APSIS answers its poll URL 503."""

from __future__ import annotations

import itertools
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox import Sandbox
from tap_profile_export.vendors.apsis.records import event_id as apsis_event_id
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

from .conftest import partition_state, run_tap
from .test_resume import has_state, in_flight, run_and_signal

BATCH_CREATE = "/2.4/profiles/export"
APSIS_CREATE = "/audience/profiles/exports"


def config_for(sb: Sandbox, vendor: str, days: int = 4) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=days))
    config["end_date"] = to_rfc3339(sb.anchor)
    return config


def window_of(request: Any, vendor: str) -> tuple[datetime, datetime]:
    start, end = ("from", "to") if vendor == "batch" else ("start_at", "end_at")
    return parse_rfc3339(request.json[start]), parse_rfc3339(request.json[end])


def event_creates(sb: Sandbox, vendor: str) -> list[tuple[datetime, datetime]]:
    if vendor == "batch":
        return [window_of(r, vendor) for r in sb.requests()
                if r.path == BATCH_CREATE and (r.json or {}).get("export_type") == "EVENTS"]
    return [window_of(r, vendor) for r in sb.requests()
            if r.path == APSIS_CREATE and (r.json or {}).get("events")]


def truth(sb: Sandbox, vendor: str, config: dict[str, Any]) -> set[str]:
    start, end = parse_rfc3339(config["start_date"]), parse_rfc3339(config["end_date"])
    if vendor == "batch":
        return {line["event"]["id"] for line in sb.batch_sim.event_lines("EVENTS", start, end)}
    body = {"events": config["apsis"]["events"]}
    return {apsis_event_id(p, s, e) for p, s, e in sb.apsis_sim.expected_events(body, start,
                                                                                 end)}


def limit_to_a_third(sb: Sandbox, vendor: str, config: dict[str, Any]) -> int:
    """A limit the whole window and its halves exceed but its quarters do not."""
    sb.batch.events = 3000
    sb.apsis.events_per_profile = 20
    total = len(truth(sb, vendor, config))
    assert total > 40, "too few events to split"
    getattr(sb, vendor).max_events_per_export = total // 3
    return total


def test_batch_events_window_too_large_is_split_until_it_fits(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    config = config_for(sandbox, "batch")
    limit_to_a_third(sandbox, "batch", config)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    got = [r["event_id"] for r in run.records("events")]
    assert set(got) == truth(sandbox, "batch", config)
    assert len(got) == len(set(got))
    whole = (parse_rfc3339(config["start_date"]), parse_rfc3339(config["end_date"]))
    windows = event_creates(sandbox, "batch")
    # The whole window twice, each half twice, then the four quarters once each.
    assert windows.count(whole) == 2
    quarters = sorted(set(windows) - {whole} - {w for w in windows if windows.count(w) == 2})
    assert len(quarters) == 4 and quarters[0][0] == whole[0] and quarters[-1][1] == whole[1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(quarters))
    assert run.stderr.count("failed 2 times") == 3 and "splitting it into" in run.stderr
    state = partition_state(run.last_state, "events", source="batch")
    assert state["replication_key_value"] == config["end_date"]
    assert not state.get("exports")


def test_apsis_events_window_too_large_is_split(sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, "apsis")
    limit_to_a_third(sandbox, "apsis", config)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["event_id"] for r in run.records("events")} == truth(sandbox, "apsis", config)
    assert "503" in run.stderr and "splitting it into" in run.stderr
    assert len(set(event_creates(sandbox, "apsis"))) == 1 + 2 + 4


def test_a_killed_run_resumes_the_halves(sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, "batch")
    limit_to_a_third(sandbox, "batch", config)

    def split_recorded(state: dict[str, Any]) -> bool:
        return any(entry.get("planned") for entry in in_flight(state))

    sandbox.batch.ready_after_seconds = 0.5  # the kill lands before a half is ready
    killed = run_and_signal(tmp_path, config, signal.SIGKILL, has_state(split_recorded))
    assert killed.returncode == -signal.SIGKILL
    sandbox.batch.ready_after_seconds = 0
    halves = sorted(tuple(e["window"]) for e in in_flight(killed.last_state)
                    if e["kind"] == "events")
    assert len(halves) == 2 and halves[0][1] == halves[1][0]
    whole = (parse_rfc3339(config["start_date"]), parse_rfc3339(config["end_date"]))
    before = len(event_creates(sandbox, "batch"))
    resumed = run_tap(tmp_path, config, state=killed.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(half of a split window)" in resumed.stderr
    assert whole not in event_creates(sandbox, "batch")[before:], "the whole window again"
    got = {r["event_id"] for run in (killed, resumed) for r in run.records("events")}
    assert got == truth(sandbox, "batch", config)


def test_a_window_of_under_two_hours_is_not_split_and_fails_naming_it(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, "batch")
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(minutes=90))
    sandbox.batch.max_events_per_export = 1
    sandbox.batch.events = 20_000  # several events in 90 minutes
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "splitting" not in run.stderr
    assert f"batch events export [{config['start_date']} → {config['end_date']})" in run.stderr
    assert "gave up after creating 4 exports" in run.stderr


def test_a_snapshot_that_keeps_failing_names_what_to_reduce(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    config = config_for(sandbox, "apsis")
    config["apsis"]["events"] = []
    sandbox.add_fault(vendor="apsis", endpoint="status", status=503, times=4)
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "apsis profiles export" in run.stderr
    assert "export less: fewer apsis.attributes or apsis.tags" in run.stderr
    assert "splitting" not in run.stderr
