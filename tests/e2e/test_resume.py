"""Interrupted runs: SIGKILL and SIGTERM at any point lose nothing, and the next run resumes
the same exports (no second export is paid for) — for every vendor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339
from tests.clock import tap_env

from .conftest import TAP_EXECUTABLE, TapRun, run_tap

STREAM_KEYS = {"profiles": ("source", "profile_id"), "events": ("source", "event_id"),
               "reachability_events": ("event_id",), "braze_users": ("export_scope", "braze_id")}
CREATE_PATHS = {"/2.4/profiles/export", "/audience/profiles/exports", "/users/export/segment",
                "/users/export/global_control_group"}


def vendor_config(sb: Sandbox, vendor: str, tmp_path: Path) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=14))
    config["end_date"] = to_rfc3339(sb.anchor)
    if vendor == "braze":
        config["braze"]["external_ids"] = []
        (tmp_path / "spool").mkdir(exist_ok=True)
        config["temp_dir"] = str(tmp_path / "spool")
    return config


def keys(run: TapRun) -> set[tuple[Any, ...]]:
    return {(stream, *(r[k] for k in key)) for stream, key in STREAM_KEYS.items()
            for r in run.records(stream)}


def creates(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests() if r.method == "POST" and r.path in CREATE_PATHS)


def in_flight(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for stream in state.get("bookmarks", {}).values()
            for partition in stream.get("partitions", [])
            for entry in partition.get("exports", {}).values()]


def run_and_signal(tmp_path: Path, config: dict[str, Any], sig: signal.Signals,
                   when: Callable[[list[dict[str, Any]]], bool]) -> TapRun:
    """Run the CLI and send `sig` as soon as `when(messages so far)` holds."""
    config_path = tmp_path / f"config-{os.urandom(3).hex()}.json"
    config_path.write_text(json.dumps(config))
    stderr_path = tmp_path / f"stderr-{os.urandom(3).hex()}.log"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen([TAP_EXECUTABLE, "--config", str(config_path)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, **tap_env(), "PYTHONUNBUFFERED": "1"})
        messages: list[dict[str, Any]] = []
        assert proc.stdout is not None
        sent = False
        for line in proc.stdout:
            messages.append(json.loads(line))
            if when(messages):
                proc.send_signal(sig)
                sent = True
                break
        signalled = time.monotonic()
        # Through the same buffered reader: what it read ahead is part of the output too
        # (`communicate(timeout=…)` would read the pipe underneath it and lose that).
        rest = proc.stdout.read()
        proc.wait(timeout=120)
        assert sent, ("the run ended before the moment to interrupt it came:\n"
                      + stderr_path.read_text()[-3000:])
        # Stopping must be prompt, not "after the exports' deadline" (60 s in these configs).
        assert time.monotonic() - signalled < 15, "the tap did not stop promptly on the signal"
    lines = [line for line in rest.splitlines() if line.startswith("{")]
    if sig == signal.SIGKILL and lines and not lines[-1].endswith("}"):
        lines.pop()  # killed in the middle of writing it
    messages += [json.loads(line) for line in lines]
    return TapRun(proc.returncode, "", stderr_path.read_text(), messages)


def has_state(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[list[dict]], bool]:
    return lambda messages: messages[-1].get("type") == "STATE" and predicate(
        messages[-1]["value"])


def make_slow(sb: Sandbox, vendor: str) -> None:
    getattr(sb, vendor).ready_after = 10**6


def make_ready(sb: Sandbox, vendor: str) -> None:
    getattr(sb, vendor).ready_after = 0


@pytest.mark.parametrize("vendor,expected_in_flight", [("batch", 3), ("apsis", 3),
                                                       ("braze", 3)])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_interrupted_while_waiting_resumes_the_same_exports(
        sandbox: Sandbox, tmp_path: Path, vendor: str, expected_in_flight: int,
        sig: signal.Signals) -> None:
    baseline = run_tap(tmp_path, vendor_config(sandbox, vendor, tmp_path))
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    make_slow(sandbox, vendor)
    before = creates(sandbox)
    interrupted = run_and_signal(
        tmp_path, vendor_config(sandbox, vendor, tmp_path), sig,
        has_state(lambda state: len(in_flight(state)) >= expected_in_flight))
    assert interrupted.returncode != 0
    created = creates(sandbox) - before
    assert created >= expected_in_flight
    if sig == signal.SIGTERM:
        assert "received SIGTERM" in interrupted.stderr
    if vendor == "braze":
        assert list((tmp_path / "spool").iterdir()) == []

    make_ready(sandbox, vendor)
    resumed = run_tap(tmp_path, vendor_config(sandbox, vendor, tmp_path),
                      state=interrupted.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert creates(sandbox) - before == created, "a resumable export was created again"
    assert "resuming export" in resumed.stderr
    assert keys(interrupted) | keys(resumed) == keys(baseline)
    assert not in_flight(resumed.last_state)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_interrupted_mid_download_skips_parts_already_read(sandbox: Sandbox, tmp_path: Path,
                                                           sig: signal.Signals) -> None:
    sandbox.batch.part_records = 20  # 10 profile parts
    baseline = run_tap(tmp_path, vendor_config(sandbox, "batch", tmp_path))
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    sandbox.batch.file_delay_seconds = 0.3
    before = creates(sandbox)

    def two_profile_parts_read(state: dict[str, Any]) -> bool:
        return any(len(e["parts_done"]) >= 2 and e["kind"] == "attributes"
                   for e in in_flight(state))

    interrupted = run_and_signal(tmp_path, vendor_config(sandbox, "batch", tmp_path), sig,
                                 has_state(two_profile_parts_read))
    assert interrupted.returncode != 0
    read_parts = max(len(e["parts_done"]) for e in in_flight(interrupted.last_state)
                     if e["kind"] == "attributes")
    assert 2 <= read_parts < 10
    sandbox.batch.file_delay_seconds = 0
    downloads_before = len([r for r in sandbox.requests() if r.origin == "download"])
    resumed = run_tap(tmp_path, vendor_config(sandbox, "batch", tmp_path),
                      state=interrupted.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert creates(sandbox) - before == 3
    assert keys(interrupted) | keys(resumed) == keys(baseline)
    profile_downloads = [r for r in sandbox.requests()[downloads_before:]
                         if r.origin == "download" and "_1_" not in r.path]
    assert len(resumed.records("profiles")) <= 200 - 20 * read_parts
    assert profile_downloads
