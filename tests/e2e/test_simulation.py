"""Weeks of scheduled runs in well under a minute: daily runs at simulated times against a
sandbox whose clock follows them, state carried from run to run as Meltano does (the last STATE
of a run is the next run's `--state`), while events keep arriving — some up to 90 minutes after
their timestamp — exports fail or expire (Batch ERROR, APSIS 503/410) and runs are killed
(SIGKILL) while waiting or downloading. At the end the union of the records the target would
have committed (those before each run's last STATE), de-duplicated by primary key, must equal
the sandbox's truth for the whole period; no event may be exported again by a later run except
in that run's overlap; and every run after a failure must recover by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox import Sandbox
from tap_profile_export.vendors.apsis.records import event_id as apsis_event_id
from tap_profile_export.windows import parse_rfc3339, to_rfc3339
from tests.clock import tap_env

from .conftest import TAP_EXECUTABLE

OVERLAP = timedelta(minutes=120)  # the default events_lookback_minutes
LATE_MINUTES = 90
STEP = timedelta(days=1)
PARTITIONS = (("events", "batch"), ("events", "apsis"), ("reachability_events", "batch"))
Messages = list[dict[str, Any]]


@dataclass
class Run:
    """One scheduled run: what it printed and what the target would have kept."""

    index: int
    at: datetime
    returncode: int
    stderr: str
    killed: bool
    state_in: dict[str, Any]
    messages: Messages = field(default_factory=list)

    @property
    def committed(self) -> Messages:
        """Messages up to the last STATE: what a target has loaded when it stores that state."""
        last = max((i for i, m in enumerate(self.messages) if m.get("type") == "STATE"),
                   default=-1)
        return self.messages[:last + 1]

    @property
    def last_state(self) -> dict[str, Any]:
        states = [m["value"] for m in self.committed if m.get("type") == "STATE"]
        return states[-1] if states else self.state_in


def partition(state: dict[str, Any], stream: str, source: str) -> dict[str, Any]:
    for part in state.get("bookmarks", {}).get(stream, {}).get("partitions", []):
        if part.get("context") == {"source": source}:
            return dict(part)
    return {}


def in_flight(state: dict[str, Any]) -> int:
    return sum(len(partition(state, stream, source).get("exports") or {})
               for stream, source in PARTITIONS)


def key(message: dict[str, Any]) -> tuple[str, str, str]:
    record = message["record"]
    return (message["stream"], record.get("source") or "batch", record["event_id"])


def run_tap(tmp_path: Path, config: dict[str, Any], catalog: Path, state: dict[str, Any],
            kill_when: Callable[[Messages], bool] | None = None) -> tuple[int, str, bool, Messages]:
    """The CLI with `--state`; SIGKILL as soon as `kill_when(messages so far)` holds."""
    tag = os.urandom(3).hex()
    (tmp_path / f"config-{tag}.json").write_text(json.dumps(config))
    (tmp_path / f"state-{tag}.json").write_text(json.dumps(state))
    stderr_path = tmp_path / f"stderr-{tag}.log"
    args = [TAP_EXECUTABLE, "--config", str(tmp_path / f"config-{tag}.json"), "--catalog",
            str(catalog), "--state", str(tmp_path / f"state-{tag}.json")]
    killed = False
    messages: Messages = []
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, **tap_env()})
        assert proc.stdout is not None
        for line in proc.stdout:
            messages.append(json.loads(line))
            if kill_when and not killed and kill_when(messages):
                proc.send_signal(signal.SIGKILL)
                killed = True
        proc.wait(timeout=120)
    return proc.returncode, stderr_path.read_text(), killed, messages


def last_state_has(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[Messages], bool]:
    return lambda messages: messages[-1].get("type") == "STATE" and predicate(
        messages[-1]["value"])


def every_partition_waiting(state: dict[str, Any]) -> bool:
    return all(partition(state, stream, source).get("exports") for stream, source in PARTITIONS)


def batch_part_read(state: dict[str, Any]) -> bool:
    return any(entry["parts_done"] for entry in
               (partition(state, "events", "batch").get("exports") or {}).values())


def catalog_of_event_streams(tmp_path: Path, config: dict[str, Any]) -> Path:
    (tmp_path / "discover-config.json").write_text(json.dumps(config))
    out = subprocess.run([TAP_EXECUTABLE, "--config", str(tmp_path / "discover-config.json"),
                          "--discover"], capture_output=True, text=True, check=True, timeout=120)
    catalog = json.loads(out.stdout)
    for stream in catalog["streams"]:
        selected = stream["tap_stream_id"] in ("events", "reachability_events")
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = selected
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def test_daily_runs_with_late_events_failures_and_kills_lose_nothing(tmp_path: Path) -> None:
    schedule = [
        "normal", "batch_error_once", "apsis_503_once", "kill_waiting", "normal",
        "apsis_410_once", "kill_downloading", "normal", "future_end_date", "too_large",
        "batch_error_for_good", "normal", "kill_waiting_then_error", "normal",
        "apsis_503_for_good", "normal", "normal",
    ]
    with Sandbox(seed=11) as sb:
        now = sb.wall.now().replace(minute=0, second=0, microsecond=0)
        base = now - STEP * (len(schedule) - 1)
        sb.anchor = now + STEP  # events go on after the last run (not arrived yet)
        for scenario in (sb.batch, sb.apsis):
            scenario.history_days = len(schedule) + 2
            scenario.late_minutes = LATE_MINUTES
        sb.batch.events, sb.batch.reachability_events = 1900, 950  # 100 and 50 a day
        sb.batch.part_records = 25
        sb.apsis.profiles, sb.apsis.events_per_profile = 38, 25  # 50 a day
        config = {k: v for k, v in sb.tap_config().items() if k != "braze"}
        config["start_date"] = to_rfc3339(base - STEP)
        catalog = catalog_of_event_streams(tmp_path, config)

        runs: list[Run] = []
        state: dict[str, Any] = {}
        for index, kind in enumerate(schedule):
            at = base + STEP * index
            sb.clock = at
            run_config = {**config, "end_date": to_rfc3339(at)}
            kill_when = None
            if kind == "batch_error_once":
                sb.batch.export_errors = 1
            elif kind == "batch_error_for_good":
                sb.batch.export_error = True  # every export, split windows too
            elif kind in ("apsis_503_once", "apsis_410_once", "apsis_503_for_good"):
                sb.add_fault(vendor="apsis", endpoint="status",
                             status=410 if "410" in kind else 503,
                             times=10**6 if kind.endswith("for_good") else 1)
            elif kind.startswith("kill_waiting"):
                sb.batch.ready_after = sb.apsis.ready_after = 10**6
                sb.batch.export_errors = 2 if kind.endswith("then_error") else 0
                kill_when = last_state_has(every_partition_waiting)
            elif kind == "kill_downloading":
                sb.batch.file_delay_seconds = 0.2
                kill_when = last_state_has(batch_part_read)
            elif kind == "future_end_date":
                run_config["end_date"] = to_rfc3339(now + STEP * 3)
            elif kind == "too_large":  # a day's window exceeds both vendors' size limit
                sb.batch.max_events_per_export, sb.apsis.max_events_per_export = 70, 35
            returncode, stderr, killed, messages = run_tap(tmp_path, run_config, catalog, state,
                                                           kill_when)
            run = Run(index, at, returncode, stderr, killed, state, messages)
            runs.append(run)
            state = run.last_state
            sb.batch.ready_after = sb.apsis.ready_after = 1
            sb.batch.file_delay_seconds = 0
            sb.batch.export_errors = 0
            sb.batch.export_error = False
            sb.clear_faults()
            sb.batch.max_events_per_export = sb.apsis.max_events_per_export = 0
            check_run(run, kind)

        final = base + STEP * (len(schedule) - 1)
        check_truth(sb, runs, parse_rfc3339(config["start_date"]), final, config)
        check_reexports(runs)


def check_run(run: Run, kind: str) -> None:
    """What each run must show; runs after a failure recover by themselves."""
    where = f"run {run.index} ({kind}) at {to_rfc3339(run.at)}:\n{run.stderr[-3000:]}"
    if kind.startswith("kill"):
        assert run.killed, f"never reached the moment to kill it; {where}"
        return
    state = run.last_state
    assert in_flight(state) == 0, f"an export stayed in state; {where}"
    if kind.endswith("for_good"):
        vendor = "batch" if kind.startswith("batch") else "apsis"
        assert run.returncode != 0, where
        assert f"{vendor} events export [" in run.stderr and "gave up after creating 4" \
            in run.stderr, where
        return
    assert run.returncode == 0, where
    for stream, source in PARTITIONS:
        assert partition(state, stream, source)["replication_key_value"] == \
            to_rfc3339(run.at), f"{stream}/{source} bookmark; {where}"
    if kind.endswith("_once"):
        assert "creating a new export (1/3)" in run.stderr, where
    if kind == "future_end_date":
        assert "is in the future" in run.stderr, where
    if kind == "too_large":
        for vendor in ("batch", "apsis"):
            assert f"{vendor} events export [" in run.stderr and "splitting it into" in \
                run.stderr, where


def check_truth(sb: Sandbox, runs: list[Run], start: datetime, end: datetime,
                config: dict[str, Any]) -> None:
    """The union of committed records is every event that had arrived by the last run."""
    got = {key(m) for run in runs for m in run.committed if m.get("type") == "RECORD"}
    want = {("events", "batch", line["event"]["id"])
            for line in sb.batch_sim.event_lines("EVENTS", start, end, as_of=end)}
    want |= {("reachability_events", "batch", line["event"]["id"])
             for line in sb.batch_sim.event_lines("REACHABILITY", start, end, as_of=end)}
    body = {"events": config["apsis"]["events"]}
    want |= {("events", "apsis", apsis_event_id(profile, section, event)) for profile, section,
             event in sb.apsis_sim.expected_events(body, start, end, as_of=end)}
    late = {k for k in want if k[1] == "batch"} - {
        ("events", "batch", line["event"]["id"]) for day in range(len(runs)) for line in
        sb.batch_sim.event_lines("EVENTS", start + STEP * day, start + STEP * (day + 1),
                                 as_of=start + STEP * (day + 1))}
    assert late, "the simulation should hold events that arrived after a run had passed them"
    assert not want - got, f"{len(want - got)} event(s) never exported: {sorted(want - got)[:5]}"
    assert not got - want, f"exported events the sandbox never had: {sorted(got - want)[:5]}"


def check_reexports(runs: list[Run]) -> None:
    """A later run exports an event again only inside its overlap before the bookmark."""
    first_run: dict[tuple[str, str, str], int] = {}
    for run in runs:
        for message in run.committed:
            if message.get("type") != "RECORD":
                continue
            k = key(message)
            if first_run.setdefault(k, run.index) == run.index:
                continue
            bookmark = partition(run.state_in, k[0], k[1]).get("replication_key_value")
            assert bookmark, f"run {run.index} re-exported {k} without a bookmark"
            timestamp = parse_rfc3339(message["record"]["timestamp"])
            assert timestamp >= parse_rfc3339(bookmark) - OVERLAP, (
                f"run {run.index} re-exported {k} ({to_rfc3339(timestamp)}), before its "
                f"bookmark {bookmark} minus the overlap")


def three_apsis_windows_waiting(state: dict[str, Any]) -> bool:
    return len(partition(state, "events", "apsis").get("exports") or {}) == 3


def test_killed_with_apsis_windows_in_flight_rereads_late_events_at_old_boundaries(
        tmp_path: Path) -> None:
    """Run 1 is killed with three APSIS windows in flight; its last window (1 h) is shorter
    than the overlap (2 h), so the exports of the last two hold none of the events of
    [end - 2 h, end) that arrived after they were created. Run 2, a day later, resumes them
    and must read those late events too — at the boundary between the two old windows as well
    as in the last one."""
    with Sandbox(seed=13) as sb:
        t2 = sb.wall.now().replace(minute=0, second=0, microsecond=0)  # no end in the future
        t1 = t2 - STEP
        sb.anchor = t2 + STEP
        sb.apsis.history_days = 5
        sb.apsis.late_minutes = 110  # up to just under the overlap
        sb.apsis.profiles, sb.apsis.events_per_profile = 100, 100  # 2,000 events a day
        config = {k: v for k, v in sb.tap_config().items() if k not in ("batch", "braze")}
        config["apsis"]["window_days"] = 1
        start = t1 - timedelta(hours=49)  # windows of 24 h, 24 h and 1 h
        config["start_date"] = to_rfc3339(start)
        catalog = catalog_of_event_streams(tmp_path, config)
        body = {"events": config["apsis"]["events"]}

        def events(begin: datetime, end: datetime, as_of: datetime) -> set[str]:
            return {apsis_event_id(p, s, e) for p, s, e in
                    sb.apsis_sim.expected_events(body, begin, end, as_of=as_of)}

        boundary = t1 - timedelta(hours=1)  # between the second and the third window
        late_at_boundary = events(t1 - OVERLAP, boundary, t2) - events(t1 - OVERLAP, boundary,
                                                                        t1)
        assert late_at_boundary, "no event before the old boundary arrives after run 1"

        sb.clock = t1
        sb.apsis.ready_after = 10**6
        returncode, stderr, killed, messages = run_tap(
            tmp_path, {**config, "end_date": to_rfc3339(t1)}, catalog, {},
            last_state_has(three_apsis_windows_waiting))
        first = Run(0, t1, returncode, stderr, killed, {}, messages)
        assert killed, stderr[-3000:]
        windows = sorted(e["window"] for e in
                         partition(first.last_state, "events", "apsis")["exports"].values())
        assert windows[-1] == [to_rfc3339(boundary), to_rfc3339(t1)]

        sb.apsis.ready_after = 1
        sb.clock = t2
        returncode, stderr, killed, messages = run_tap(
            tmp_path, {**config, "end_date": to_rfc3339(t2)}, catalog, first.last_state)
        second = Run(1, t2, returncode, stderr, killed, first.last_state, messages)
        assert returncode == 0, stderr[-3000:]
        assert "resuming export" in stderr
        got = {m["record"]["event_id"] for run in (first, second) for m in run.committed
               if m.get("type") == "RECORD"}
        want = events(start, t2, t2)
        assert not late_at_boundary - got, (
            f"{len(late_at_boundary - got)} late event(s) before the old boundary lost")
        assert not want - got, f"{len(want - got)} event(s) never exported"
        assert not got - want
