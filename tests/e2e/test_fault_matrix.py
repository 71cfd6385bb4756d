"""The fault matrix: generic transport faults for every vendor, each run end to end. Each either
completes with exactly the data of a clean run, or fails naming the export — and the STATE it
leaves never passes unread data. Vendor-specific faults live in test_<vendor>.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339

from .conftest import TapRun, run_tap

KEYS = {"profiles": ("source", "profile_id"), "events": ("source", "event_id"),
        "reachability_events": ("event_id",), "braze_users": ("export_scope", "braze_id")}
# (endpoint, fault) pairs every vendor gets; "status" is Braze's readiness probe of its URL.
RECOVERABLE = [
    ("create", {"status": 429, "times": 2}),
    ("create", {"status": 429, "times": 1, "headers": {"Retry-After": "0.3"}}),
    ("create", {"status": 503, "times": 3}),
    ("create", {"status": 500, "times": 1}),
    ("create", {"action": "reset", "times": 1}),
    ("status", {"status": 502, "times": 3}),
    ("status", {"action": "reset", "times": 1}),
]
STATUS_ENDPOINT = {"batch": "status", "apsis": "status", "braze": "file"}
VENDORS = ("batch", "apsis", "braze")
CLEAN: dict[str, tuple[set[tuple[Any, ...]], dict[str, Any]]] = {}


def config_for(sb: Sandbox, vendor: str, **top: Any) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=14))
    config["end_date"] = to_rfc3339(sb.anchor)
    config.update(top)
    return config


def keys(run: TapRun) -> set[tuple[Any, ...]]:
    return {(s, *(r[k] for k in key)) for s, key in KEYS.items() for r in run.records(s)}


def bookmarks(run: TapRun) -> dict[str, Any]:
    found = {}
    for stream in ("events", "reachability_events"):
        for partition in run.last_state.get("bookmarks", {}).get(stream, {}).get(
                "partitions", []):
            found[(stream, partition["context"].get("source"))] = partition.get(
                "replication_key_value")
    return found


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("endpoint,fault", RECOVERABLE,
                         ids=[f"{e}-{f.get('status', f.get('action'))}"
                              f"{'-retry-after' if 'headers' in f else ''}-x{f['times']}"
                              for e, f in RECOVERABLE])
def test_transient_fault_recovers_with_complete_data(sandbox: Sandbox, tmp_path: Path,
                                                     vendor: str, endpoint: str,
                                                     fault: dict[str, Any]) -> None:
    if vendor not in CLEAN:  # the sandbox's data is deterministic: one clean run per vendor
        clean = run_tap(tmp_path, config_for(sandbox, vendor))
        assert clean.returncode == 0, clean.stderr[-3000:]
        CLEAN[vendor] = (keys(clean), bookmarks(clean))
    endpoint = STATUS_ENDPOINT[vendor] if endpoint == "status" else endpoint
    sandbox.add_fault(vendor=vendor, endpoint=endpoint, **fault)
    run = run_tap(tmp_path, config_for(sandbox, vendor))
    assert run.returncode == 0, run.stderr[-3000:]
    assert (keys(run), bookmarks(run)) == CLEAN[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
def test_deadline_exceeded_fails_naming_the_export_and_keeps_bookmarks(
        sandbox: Sandbox, tmp_path: Path, vendor: str) -> None:
    getattr(sandbox, vendor).ready_after = 10**6
    config = config_for(sandbox, vendor, poll={"initial_interval_seconds": 0.05,
                                                "max_interval_seconds": 0.1,
                                                "timeout_seconds": 0.5})
    if vendor == "braze":
        config["braze"]["external_ids"] = []
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert f"{vendor} " in run.stderr and "not ready after" in run.stderr
    assert "poll.timeout_seconds=0.5" in run.stderr
    assert all(value is None or value < config["end_date"]
               for value in bookmarks(run).values())


@pytest.mark.parametrize("vendor", VENDORS)
def test_persistent_server_errors_fail_after_bounded_retries(sandbox: Sandbox, tmp_path: Path,
                                                             vendor: str) -> None:
    sandbox.add_fault(vendor=vendor, endpoint="create", status=503, times=10**6)
    run = run_tap(tmp_path, config_for(sandbox, vendor))
    assert run.returncode != 0
    assert f"{vendor} create" in run.stderr and "HTTP 503 after" in run.stderr
    attempts = [r for r in sandbox.requests() if r.status == 503]
    assert 0 < len(attempts) <= 10 * 5
