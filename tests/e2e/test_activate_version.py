"""Table versions for the snapshot streams (`activate_version`), through the CLI: records carry
the run's version, ACTIVATE_VERSION comes only after every record of the stream and only when
every partition of the stream was read completely in this run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339

from .conftest import TapRun, run_tap

DEFINITIONS = ("apsis_attributes", "apsis_event_types", "apsis_sections", "apsis_tags")
SNAPSHOTS = ("profiles", "braze_users", *DEFINITIONS)
EVENT_STREAMS = ("events", "reachability_events")


def config_for(sb: Sandbox, mode: str | None, vendors: tuple[str, ...] = ("batch", "apsis",
                                                                          "braze")) -> dict:
    config: dict[str, Any] = {k: v for k, v in sb.tap_config().items()
                              if k not in {"batch", "apsis", "braze"} - set(vendors)}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=3))
    config["end_date"] = to_rfc3339(sb.anchor)
    if mode is not None:
        config["activate_version"] = mode
    return config


def activations(run: TapRun) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for m in run.messages:
        if m.get("type") == "ACTIVATE_VERSION":
            found.setdefault(m["stream"], []).append(m["version"])
    return found


def record_versions(run: TapRun, stream: str) -> set[Any]:
    return {m.get("version") for m in run.messages
            if m.get("type") == "RECORD" and m.get("stream") == stream}


def test_records_carry_the_version_and_activation_follows_every_record(
        sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sandbox, "all_sources"))
    assert run.returncode == 0, run.stderr[-3000:]
    found = activations(run)
    assert set(found) == set(SNAPSHOTS)
    for stream in SNAPSHOTS:
        [version] = found[stream]
        assert isinstance(version, int) and version > 0
        assert record_versions(run, stream) == {version}  # every record, same version
        indexes = [i for i, m in enumerate(run.messages) if m.get("stream") == stream]
        last_record = max(i for i in indexes if run.messages[i]["type"] == "RECORD")
        [activation] = [i for i in indexes if run.messages[i]["type"] == "ACTIVATE_VERSION"]
        assert activation > last_record
    assert {m["record"]["source"] for m in run.messages
            if m.get("type") == "RECORD" and m["stream"] == "profiles"} == {"batch", "apsis"}
    for stream in EVENT_STREAMS:  # incremental streams: untouched
        assert run.records(stream) and record_versions(run, stream) == {None}
    assert "every partition read completely" in run.stderr


def test_a_failed_source_blocks_activation_of_its_stream_only(
        sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.batch.export_error = True
    run = run_tap(tmp_path, config_for(sandbox, "all_sources"))
    assert run.returncode != 0
    assert run.records("profiles")  # APSIS profiles were read and emitted ...
    assert "profiles" not in activations(run)  # ... but the snapshot is not whole
    assert "profiles: no ACTIVATE_VERSION this run" in run.stderr
    assert "source=batch failed" in run.stderr
    # every Braze scope and every APSIS definition was read
    assert list(activations(run)) == [*DEFINITIONS, "braze_users"]


def test_a_failed_braze_scope_blocks_braze_users(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_fault("braze", "ids", status=400, times=50)
    run = run_tap(tmp_path, config_for(sandbox, "all_sources", ("braze",)))
    assert run.returncode != 0
    assert run.records("braze_users")  # the segment scopes were read
    assert activations(run) == {}
    assert "export_scope=ids failed" in run.stderr


def test_one_vendor_run_never_activates_a_table_other_vendors_write(
        sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sandbox, "all_sources", ("batch",)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records("profiles") and activations(run) == {}
    assert "source apsis is not configured in this run" in run.stderr
    # A table only this run writes (one vendor in use, or a per-vendor table): opt in.
    run = run_tap(tmp_path, config_for(sandbox, "configured_sources", ("batch",)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(activations(run)) == ["profiles"]
    config = config_for(sandbox, "configured_sources", ("batch",))
    config["stream_maps"] = {"profiles": {"__alias__": "profiles_batch"}}
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(activations(run)) == ["profiles_batch"]
    assert run.records("profiles_batch") and not run.records("profiles")
    # Braze is the only source of braze_users: a Braze-only run covers the table.
    run = run_tap(tmp_path, config_for(sandbox, "all_sources", ("braze",)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(activations(run)) == ["braze_users"]


def test_off_by_default_like_the_sdk(sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, None, ("batch",))
    config["emit_activate_version_messages"] = True  # the SDK's switch: never its early way
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert activations(run) == {} and record_versions(run, "profiles") == {None}


def test_batch_messages_carry_no_version_so_no_activation(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, "all_sources", ("braze",))
    config["batch_config"] = {"encoding": {"format": "jsonl", "compression": "gzip"},
                              "storage": {"root": f"file://{tmp_path}", "prefix": "batch-"}}
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert activations(run) == {}
    assert "no ACTIVATE_VERSION in BATCH mode" in run.stderr


def test_a_profile_deleted_at_the_vendor_is_absent_from_the_next_snapshot(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, "all_sources")
    before = run_tap(tmp_path, config)
    sandbox.batch.deleted = [3]
    sandbox.apsis.deleted = [5]
    sandbox.braze.deleted = [7]  # in segments and in the ids scope
    after = run_tap(tmp_path, config)
    assert before.returncode == after.returncode == 0, after.stderr[-3000:]

    def ids(run: TapRun, stream: str, key: str) -> set[tuple[str, str]]:
        return {(r[key], r["profile_id" if stream == "profiles" else "braze_id"])
                for r in run.records(stream)}

    gone = ids(before, "profiles", "source") - ids(after, "profiles", "source")
    assert gone == {("batch", "profile_0000003"), ("apsis", "pk-000005")}
    gone_users = ids(before, "braze_users", "export_scope") - ids(after, "braze_users",
                                                                   "export_scope")
    assert {user for _, user in gone_users} == {f"{0x5F0000000000 + 7:024x}"}
    assert {scope for scope, _ in gone_users} >= {"ids"}
    assert set(activations(after)) == set(SNAPSHOTS)
