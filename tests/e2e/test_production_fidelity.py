"""Issue 13: configurations the real APIs would have refused, run end to end against the strict
sandbox (the refused-request guard in conftest fails any test that sent such a request), and
the waits a Braze rate-limit header may and may not cause."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox import Sandbox
from sandbox.braze import VALID_FIELDS
from tap_profile_export.windows import parse_rfc3339, to_rfc3339

from .conftest import partition_state, run_tap


def vendor_config(sb: Sandbox, vendor: str, days: int = 20, **block: Any) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=days))
    config["end_date"] = to_rfc3339(sb.anchor)
    config[vendor].update(block)
    return config


def posts(sb: Sandbox, path: str) -> list[Any]:
    return [r for r in sb.requests() if r.origin == "api" and r.method == "POST"
            and r.path == path]


def test_batch_identifiers_only(sandbox: Sandbox, tmp_path: Path) -> None:
    config = vendor_config(sandbox, "batch", identifiers=["custom_id"], attributes=[])
    del config["batch"]["attributes"]
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    bodies = [r.json for r in posts(sandbox, "/2.4/profiles/export")]
    assert len(bodies) == 3 and all(r.status == 202
                                    for r in posts(sandbox, "/2.4/profiles/export"))
    assert all(b["identifiers"] == ["custom_id"] and "attributes" not in b for b in bodies)
    profiles = run.records("profiles")
    assert len(profiles) == sandbox.batch.profiles
    assert all(p["custom_id"] and p["attributes"] == {} for p in profiles)
    assert run.records("events") and run.records("reachability_events")


def test_batch_attributes_only(sandbox: Sandbox, tmp_path: Path) -> None:
    config = vendor_config(sandbox, "batch", attributes=["$email_address", "loyalty_tier"])
    del config["batch"]["identifiers"]
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    bodies = {b["export_type"]: b for b in
              (r.json for r in posts(sandbox, "/2.4/profiles/export"))}
    assert bodies["ATTRIBUTES"] == {"export_type": "ATTRIBUTES",
                                    "attributes": ["$email_address", "loyalty_tier"]}
    assert set(bodies["EVENTS"]) == {"export_type", "from", "to"}
    assert set(bodies["REACHABILITY"]) == {"export_type", "from", "to"}
    profiles = run.records("profiles")
    assert len(profiles) == sandbox.batch.profiles
    assert all(p["profile_id"].startswith("profile_") and p["custom_id"] is None
               for p in profiles)
    assert sum(1 for p in profiles if "$email_address" in p["attributes"]) == len(profiles)
    assert run.records("events")


def test_braze_global_control_group_with_custom_attributes(sandbox: Sandbox,
                                                           tmp_path: Path) -> None:
    config = vendor_config(sandbox, "braze", segment_ids=["seg-alpha"], global_control_group=True,
                           external_ids=[], custom_attributes_to_export=["tier", "visits"],
                           fields_to_export=["email", "external_id", "push_tokens"])
    config["temp_dir"] = str(tmp_path)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    [gcg] = posts(sandbox, "/users/export/global_control_group")
    assert set(gcg.json) == {"fields_to_export"}
    assert gcg.json["fields_to_export"] == ["email", "external_id", "braze_id",
                                            "custom_attributes"]
    assert set(gcg.json["fields_to_export"]) <= VALID_FIELDS["global_control_group"]
    [segment] = posts(sandbox, "/users/export/segment")
    assert segment.json["custom_attributes_to_export"] == ["tier", "visits"]
    assert "push_tokens" in segment.json["fields_to_export"]
    assert "left out of its fields_to_export" in run.stderr  # push_tokens, for the control group
    users = [u for u in run.records("braze_users")
             if u["export_scope"] == "global_control_group"]
    assert len(users) == sandbox.braze.control_group_users
    assert all(u["custom_attributes"]["tier"] in ("gold", "silver") for u in users)


def test_braze_unknown_field_fails_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    config = vendor_config(sandbox, "braze", fields_to_export=["email", "cards_clicked"])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "setting 'braze.fields_to_export'" in run.stderr and "cards_clicked" in run.stderr
    assert "allow_unknown_fields" in run.stderr
    assert sandbox.requests() == []


def test_start_date_120_days_back(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.tap_config()
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=120))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    config["temp_dir"] = str(tmp_path)
    config["apsis"]["window_days"] = 30
    run = run_tap(tmp_path, config, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "90-day lookback" in run.stderr and "skipping" in run.stderr
    creates = {r.json["export_type"]: r.json for r in posts(sandbox, "/2.4/profiles/export")}
    for kind in ("EVENTS", "REACHABILITY"):
        sent = parse_rfc3339(creates[kind]["from"])
        assert sandbox.anchor - timedelta(days=90) < sent < sandbox.anchor - timedelta(days=89)
    assert len(posts(sandbox, "/audience/profiles/exports")) == 1 + 4  # profiles + 4 windows
    for stream in ("events", "reachability_events"):
        state = partition_state(run.last_state, stream, source="batch")
        assert state["replication_key_value"] == config["end_date"]
    assert run.records("events") and run.records("braze_users")
    # Nothing refused (not-ready answers — APSIS 404, Braze 403 — are part of waiting).
    assert [(r.path, r.status) for r in sandbox.requests() if r.status in (400, 401, 429)] == []
    assert sandbox.refused() == []


def test_recreated_batch_export_is_clamped_again(sandbox: Sandbox, tmp_path: Path) -> None:
    # An export planned from a bookmark 100 days back, created by an earlier run and gone now:
    # its re-creation must send a `from` Batch accepts today, not the planned one.
    # (Created after its window ended, so it holds the window's late events too.)
    config = vendor_config(sandbox, "batch")
    config["end_date"] = to_rfc3339(sandbox.anchor - timedelta(days=1))
    start = to_rfc3339(sandbox.anchor - timedelta(days=100))
    key = f"events:{start}/{config['end_date']}"
    state = {"bookmarks": {"events": {"partitions": [{
        "context": {"source": "batch"}, "replication_key": "timestamp",
        "replication_key_value": start,
        "exports": {key: {"vendor": "batch", "kind": "events",
                          "created_at": to_rfc3339(sandbox.anchor),
                          "handle": {"export_id": "export_gone"}, "parts_done": [],
                          "window": [start, config["end_date"]]}}}]}}}
    run = run_tap(tmp_path, config, state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming export export_gone" in run.stderr and "creating a new export" in run.stderr
    [events] = [r.json for r in posts(sandbox, "/2.4/profiles/export")
                if r.json["export_type"] == "EVENTS"]
    assert parse_rfc3339(events["from"]) > sandbox.anchor - timedelta(days=90)
    assert partition_state(run.last_state, "events", source="batch")[
        "replication_key_value"] == config["end_date"]


def test_braze_500_with_a_far_rate_limit_reset_costs_seconds(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    assert sandbox.braze.rate_limit_reset_seconds >= 3600  # every answer: reset an hour away
    sandbox.add_fault(vendor="braze", endpoint="create", status=500, times=1)
    config = vendor_config(sandbox, "braze", segment_ids=["seg-alpha"],
                           global_control_group=False, external_ids=[])
    started = time.monotonic()
    run = run_tap(tmp_path, config)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r.status for r in posts(sandbox, "/users/export/segment")] == [500, 201]
    assert elapsed < 30, f"a 500 cost {elapsed:.0f}s"
    assert "HTTP 500, retry 1/9 in 0." in run.stderr


def test_braze_429_still_waits_until_its_reset(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.braze.retry_reset_seconds = 4
    sandbox.add_fault(vendor="braze", endpoint="create", status=429, times=1)
    config = vendor_config(sandbox, "braze", segment_ids=["seg-alpha"],
                           global_control_group=False, external_ids=[])
    started = time.monotonic()
    run = run_tap(tmp_path, config)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r.status for r in posts(sandbox, "/users/export/segment")] == [429, 201]
    assert elapsed >= 3
    assert "HTTP 429, retry 1/9 in 3." in run.stderr or "HTTP 429, retry 1/9 in 4." in run.stderr


def test_batch_part_cut_short_is_read_again(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.gzip = False
    sandbox.batch.part_records = 60
    sandbox.batch.short_part = 2
    config = vendor_config(sandbox, "batch")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "of the" in run.stderr and "bytes the vendor stated" in run.stderr
    profiles = run.records("profiles")
    assert sorted(p["profile_id"] for p in profiles) == [f"profile_{n:07d}"
                                                         for n in range(sandbox.batch.profiles)]


def test_batch_part_always_cut_short_fails_naming_it(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.gzip = False
    sandbox.batch.part_records = 60
    sandbox.batch.short_part = 2
    sandbox.batch.short_part_times = 10**6
    config = vendor_config(sandbox, "batch")
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "part 2/" in run.stderr and "download failed 4 times" in run.stderr
    for stream in ("events", "reachability_events"):
        state = partition_state(run.last_state, stream, source="batch")
        assert state.get("replication_key_value") is None
        done = [e["parts_done"] for e in state.get("exports", {}).values()]
        assert all(len(parts) <= 1 for parts in done)
