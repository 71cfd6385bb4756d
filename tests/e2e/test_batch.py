"""Batch.com end to end: the real CLI against the sandbox — records, state, requests seen."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

from .conftest import TapRun, partition_state, run_tap


def batch_config(sb: Sandbox, **top: Any) -> dict[str, Any]:
    config = sb.tap_config()
    config = {k: v for k, v in config.items() if k not in ("apsis", "braze")}
    config["end_date"] = to_rfc3339(sb.anchor)
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=20))
    config.update(top)
    return config


def api_calls(sb: Sandbox, path: str, method: str | None = None) -> list[Any]:
    return [r for r in sb.requests() if r.origin == "api" and r.path == path
            and (method is None or r.method == method)]


def creates(sb: Sandbox, export_type: str) -> list[Any]:
    return [r for r in api_calls(sb, "/2.4/profiles/export", "POST")
            if (r.json or {}).get("export_type") == export_type]


def ids(records: list[dict[str, Any]], key: str) -> list[str]:
    return sorted(r[key] for r in records)


def assert_no_duplicates(records: list[dict[str, Any]], key: str) -> None:
    values = [r[key] for r in records]
    assert len(values) == len(set(values))


def test_full_sync_emits_every_record_and_bookmarks_window_end(sandbox: Sandbox,
                                                                tmp_path: Path) -> None:
    config = batch_config(sandbox)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]

    create_profiles = creates(sandbox, "ATTRIBUTES")
    assert len(create_profiles) == 1
    expected_profiles = sandbox.expected_batch_profiles(create_profiles[0].json)
    profiles = run.records("profiles")
    assert ids(profiles, "profile_id") == sorted(
        p["identifiers"]["profile_id"] for p in expected_profiles)
    assert {p["source"] for p in profiles} == {"batch"}
    assert all(p["exported_at"] for p in profiles)
    by_id = {p["profile_id"]: p for p in profiles}
    for line in expected_profiles[:20]:
        assert by_id[line["identifiers"]["profile_id"]]["attributes"] == line["attributes"]

    start, end = parse_rfc3339(config["start_date"]), parse_rfc3339(config["end_date"])
    for stream, kind in (("events", "EVENTS"), ("reachability_events", "REACHABILITY")):
        [create] = creates(sandbox, kind)
        assert (create.json["from"], create.json["to"]) == (config["start_date"],
                                                            config["end_date"])
        expected = sandbox.expected_batch_events(kind, start, end)
        records = run.records(stream)
        assert expected and ids(records, "event_id") == sorted(e["event"]["id"] for e in expected)
        assert_no_duplicates(records, "event_id")
        state = partition_state(run.last_state, stream, source="batch")
        assert state["replication_key_value"] == config["end_date"]
        assert "exports" not in state


@pytest.mark.parametrize("lookback_minutes", [None, 0, 30])
def test_second_run_rereads_only_the_overlap_and_the_new_window(
        sandbox: Sandbox, tmp_path: Path, lookback_minutes: int | None) -> None:
    sandbox.batch.events = 3000  # one every ~15 minutes: some fall in any overlap
    middle = sandbox.anchor - timedelta(days=10)
    top: dict[str, Any] = {} if lookback_minutes is None else {
        "events_lookback_minutes": lookback_minutes}
    overlap = timedelta(minutes=120 if lookback_minutes is None else lookback_minutes)
    first = run_tap(tmp_path, batch_config(sandbox, end_date=to_rfc3339(middle), **top))
    assert first.returncode == 0, first.stderr[-3000:]
    before = len(creates(sandbox, "EVENTS"))

    second = run_tap(tmp_path, batch_config(sandbox, **top), state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    new_creates = creates(sandbox, "EVENTS")[before:]
    assert [(c.json["from"], c.json["to"]) for c in new_creates] == [
        (to_rfc3339(middle - overlap), to_rfc3339(sandbox.anchor))]
    first_ids = set(ids(first.records("events"), "event_id"))
    second_ids = set(ids(second.records("events"), "event_id"))
    # Exactly the overlap is read twice (the target upserts it on the primary key).
    reread = {e["event"]["id"] for e in sandbox.expected_batch_events(
        "EVENTS", middle - overlap, middle)}
    assert first_ids & second_ids == reread and (reread or not overlap)
    assert len(second_ids) == len(second.records("events"))
    everything = sandbox.expected_batch_events("EVENTS", sandbox.anchor - timedelta(days=20),
                                               sandbox.anchor)
    assert first_ids | second_ids == {e["event"]["id"] for e in everything}


def test_start_older_than_lookback_is_clamped_with_a_warning(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    config = batch_config(sandbox, start_date="2020-01-01T00:00:00Z")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    [create] = creates(sandbox, "EVENTS")
    assert parse_rfc3339(create.json["from"]) > sandbox.anchor - timedelta(days=90)
    assert "90-day lookback" in run.stderr and "2020-01-01T00:00:00Z" in run.stderr


def test_downloads_carry_no_batch_credentials_and_follow_part_order(sandbox: Sandbox,
                                                                    tmp_path: Path) -> None:
    sandbox.batch.part_records = 40
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    downloads = [r for r in sandbox.requests() if r.origin == "download"]
    assert downloads
    for request in downloads:
        assert "authorization" not in request.headers
        assert "x-batch-project" not in request.headers
    links = [r.query["id"] for r in api_calls(sandbox, "/2.4/exports/download")]
    assert len(links) == len(downloads) and len(links) > 3
    # Files are listed out of order by the sandbox; the tap reads them by `part`.
    profile_records = run.records("profiles")
    assert [p["profile_id"] for p in profile_records] == sorted(
        p["profile_id"] for p in profile_records)
    config = batch_config(sandbox)
    assert config["batch"]["api_key"] not in run.stderr
    assert config["batch"]["api_key"] not in run.stdout


def test_bad_setting_fails_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    config = batch_config(sandbox)
    config["batch"]["identifiers"] = []
    config["batch"]["attributes"] = []
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "setting 'batch.identifiers'" in run.stderr
    assert sandbox.requests() == []


def test_invalid_api_key_is_fatal_and_names_the_call(sandbox: Sandbox, tmp_path: Path) -> None:
    config = batch_config(sandbox)
    config["batch"]["api_key"] = "rest_wrong_key"
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "batch create attributes export: HTTP 401" in run.stderr
    assert "rest_wrong_key" not in run.stderr
    assert len(creates(sandbox, "ATTRIBUTES")) == 1  # 401 is not retried


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [
    {"endpoint": "create", "status": 429, "headers": {"Retry-After": "0.2"}, "times": 2},
    {"endpoint": "create", "status": 429, "times": 1},
    {"endpoint": "status", "status": 503, "times": 3},
    {"endpoint": "status", "status": 500, "times": 2},
    {"endpoint": "download_link", "status": 502, "times": 2},
    {"endpoint": "file", "status": 503, "times": 2},
    {"endpoint": "file", "action": "reset", "times": 1},
    {"endpoint": "file", "action": "truncate_body", "times": 1},
    {"endpoint": "create", "action": "reset", "times": 1},
], ids=lambda f: f"{f['endpoint']}-{f.get('status', f.get('action'))}")
def test_transient_faults_are_retried_and_data_is_complete(sandbox: Sandbox, tmp_path: Path,
                                                           fault: dict[str, Any]) -> None:
    baseline = run_tap(tmp_path, batch_config(sandbox))
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    sandbox.add_fault(vendor="batch", **fault)
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream, key in (("profiles", "profile_id"), ("events", "event_id"),
                        ("reachability_events", "event_id")):
        assert ids(run.records(stream), key) == ids(baseline.records(stream), key), stream
    assert "retry" in run.stderr.lower() or "reopening" in run.stderr.lower()


def test_expired_link_is_refreshed(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.expire_links_once = True
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    links = api_calls(sandbox, "/2.4/exports/download")
    downloads = [r for r in sandbox.requests() if r.origin == "download"]
    assert [r.status for r in downloads].count(403) == len(downloads) // 2
    assert len(links) == len(downloads)
    assert "expired" in run.stderr
    assert "Signature=" not in run.stderr


def test_slow_export_waits_with_backoff(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.ready_after = 5
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    views = api_calls(sandbox, "/2.4/exports/view")
    assert len(views) >= 15  # 5 checks per export, 3 exports
    event_views = [v.at for v in views if v.query["id"] == views[-1].query["id"]]
    gaps = [b - a for a, b in itertools.pairwise(event_views)]
    assert gaps[-1] > gaps[0]
    assert "status RUNNING" in run.stderr or "status PENDING" in run.stderr


def failing_run(sandbox: Sandbox, tmp_path: Path) -> TapRun:
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode != 0
    return run


def test_export_error_is_recreated_then_fails_naming_it_and_never_sticks(
        sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.export_error = True
    config = batch_config(sandbox)
    run = failing_run(sandbox, tmp_path)
    assert len(creates(sandbox, "ATTRIBUTES")) == 4  # the failed export and 3 new ones
    assert "batch attributes export" in run.stderr and "status ERROR" in run.stderr
    assert "export_" in run.stderr and "creating a new export (3/3)" in run.stderr
    assert f"batch events export [{config['start_date']} → {config['end_date']})" in run.stderr
    for stream in ("profiles", "events", "reachability_events"):
        state = partition_state(run.last_state, stream, source="batch")
        assert "exports" not in state, f"a failed {stream} export stayed in state"
        assert "replication_key_value" not in state

    # The vendor works again: the next run starts clean and reads everything.
    sandbox.batch.export_error = False
    before = len(creates(sandbox, "EVENTS"))
    again = run_tap(tmp_path, config, state=run.last_state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming export" not in again.stderr
    assert len(creates(sandbox, "EVENTS")) == before + 1
    expected = sandbox.expected_batch_events("EVENTS", parse_rfc3339(config["start_date"]),
                                             sandbox.anchor)
    assert ids(again.records("events"), "event_id") == sorted(e["event"]["id"] for e in expected)
    state = partition_state(again.last_state, "events", source="batch")
    assert state["replication_key_value"] == config["end_date"]


def test_error_of_a_resumed_export_is_recreated_in_the_same_run(sandbox: Sandbox,
                                                               tmp_path: Path) -> None:
    sandbox.batch.ready_after = 10_000
    sandbox.batch.export_errors = 3  # the exports of the first run will end in ERROR
    stalled = run_tap(tmp_path, batch_config(sandbox, poll={
        "initial_interval_seconds": 0.05, "max_interval_seconds": 0.1, "timeout_seconds": 0.5}))
    assert stalled.returncode != 0 and "not ready after" in stalled.stderr
    assert partition_state(stalled.last_state, "events", source="batch")["exports"]

    sandbox.batch.ready_after = 0
    config = batch_config(sandbox)
    run = run_tap(tmp_path, config, state=stalled.last_state)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming export" in run.stderr and "status ERROR" in run.stderr
    assert "creating a new export (1/3)" in run.stderr
    assert len(creates(sandbox, "EVENTS")) == 2
    expected = sandbox.expected_batch_events("EVENTS", parse_rfc3339(config["start_date"]),
                                             sandbox.anchor)
    assert ids(run.records("events"), "event_id") == sorted(e["event"]["id"] for e in expected)
    for stream in ("profiles", "events", "reachability_events"):
        assert "exports" not in partition_state(run.last_state, stream, source="batch")


def test_deadline_names_export_and_keeps_it_for_resume(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.ready_after = 10_000
    config = batch_config(sandbox, poll={"initial_interval_seconds": 0.05,
                                         "max_interval_seconds": 0.1, "timeout_seconds": 0.6})
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "not ready after" in run.stderr and "poll.timeout_seconds=0.6" in run.stderr
    assert len(creates(sandbox, "ATTRIBUTES")) == 1
    state = partition_state(run.last_state, "profiles", source="batch")
    [entry] = state["exports"].values()
    assert entry["handle"]["export_id"] in run.stderr

    sandbox.batch.ready_after = 0
    resumed = run_tap(tmp_path, batch_config(sandbox), state=run.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(creates(sandbox, "ATTRIBUTES")) == 1  # the same export was resumed
    assert "resuming export" in resumed.stderr
    assert resumed.records("profiles")


@pytest.mark.parametrize("scenario,expected", [
    ({"truncated_gzip_part": 2}, "truncated"),
    ({"malformed_line": (2, 3)}, "line 3"),
])
def test_corrupt_part_fails_with_part_and_keeps_earlier_parts(
        sandbox: Sandbox, tmp_path: Path, scenario: dict[str, Any], expected: str) -> None:
    sandbox.batch.part_records = 20
    for name, value in scenario.items():
        setattr(sandbox.batch, name, value)
    run = failing_run(sandbox, tmp_path)
    assert "part 2/" in run.stderr and expected in run.stderr
    state = partition_state(run.last_state, "profiles", source="batch")
    [entry] = state["exports"].values()
    assert len(entry["parts_done"]) == 1  # part 1 was read and checkpointed, part 2 was not


def test_part_listed_but_missing_fails_naming_the_part(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.part_records = 50
    sandbox.add_fault(vendor="batch", endpoint="file", status=404, times=100, part=2)
    run = failing_run(sandbox, tmp_path)
    assert "part 2/" in run.stderr and "HTTP 404" in run.stderr


def test_failed_event_window_does_not_move_the_bookmark(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.part_records = 20
    sandbox.batch.malformed_line = (2, 1)
    config = batch_config(sandbox)
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    for stream in ("events", "reachability_events"):
        state = partition_state(run.last_state, stream, source="batch")
        assert state.get("replication_key_value") != config["end_date"]


def test_empty_part_is_fine(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.part_records = 50
    sandbox.batch.empty_part = 1
    run = run_tap(tmp_path, batch_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records("profiles")
