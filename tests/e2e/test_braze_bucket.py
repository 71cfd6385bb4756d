"""Braze accounts that export to their own bucket, end to end against a real S3 API on loopback
(moto's server, IAM enforced): the sandbox's Braze answers without `url` and writes the files
into the bucket file by file; the tap lists, settles and streams them, read-only."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.braze import CONTROL_GROUP_SEGMENT
from sandbox.objectstore import BRAZE_BUCKET
from tap_profile_export.vendors.braze.settings import BRAZE_FIELDS

from .conftest import TapRun, partition_state, run_tap
from .test_braze import braze_config, by_scope
from .test_resume import in_flight, run_and_signal

FIELDS = list(BRAZE_FIELDS["segment"])
SCOPES = ("segment:seg-alpha", "segment:seg-beta", "global_control_group")


@pytest.fixture
def bucket_sandbox(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox whose Braze account exports to `s3://braze-exports`; every tap run acts as the
    read-only `tap` IAM user (credentials from the environment, as in production)."""
    sandbox.braze.bucket = BRAZE_BUCKET
    sandbox.braze.users_per_file = 30
    for name, value in sandbox.s3.users["tap"].env().items():
        monkeypatch.setenv(name, value)
    return sandbox


def bucket_config(sb: Sandbox, tmp_path: Path, **storage: Any) -> dict[str, Any]:
    config = braze_config(sb, tmp_path, external_ids=[])
    config["braze"]["storage"] = {"url": f"s3://{BRAZE_BUCKET}",
                                  "endpoint_url": sb.s3.endpoint_url, "settle_seconds": 0.3,
                                  **storage}
    return config


def assert_every_user_once(sb: Sandbox, run: TapRun, scopes: tuple[str, ...] = SCOPES) -> None:
    got = by_scope(run.records("braze_users"))
    assert set(got) == set(scopes)
    for scope in scopes:
        want = sorted(u["braze_id"] for u in sb.braze_sim.expected_users(scope, FIELDS))
        assert sorted(u["braze_id"] for u in got[scope]) == want, scope


def exports_in_state(run: TapRun) -> list[dict[str, Any]]:
    return [e for state in run.states for e in in_flight(state)]


def put(sb: Sandbox, key: str, users: list[int]) -> None:
    """Another export's file (an older export, another segment) as Braze would leave it."""
    import gzip

    from sandbox.data import dumps

    body = b"".join(dumps({"braze_id": f"decoy-{n}", "external_id": f"decoy-{n}"}) + b"\n"
                    for n in users)
    sb.s3.client("braze").put_object(Bucket=BRAZE_BUCKET, Key=key, Body=gzip.compress(body))


def test_segments_and_control_group_through_the_bucket(bucket_sandbox: Sandbox,
                                                       tmp_path: Path) -> None:
    sb = bucket_sandbox
    day = f"{sb.now():%Y-%m-%d}"
    # An older export of the same segment, same day; another segment; the control group's
    # folder: none of them may be read.
    put(sb, f"segment-export/seg-alpha/{day}/0ld-uuid-1700000000/a.gz", [1, 2])
    put(sb, f"segment-export/seg-gamma/{day}/other-uuid-1700000001/b.gz", [3])
    put(sb, f"segment-export/{CONTROL_GROUP_SEGMENT}/{day}/gcg-old-1700000002/c.gz", [4])
    run = run_tap(tmp_path, bucket_config(sb, tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sb, run)
    assert not any("decoy" in str(r["braze_id"]) for r in run.records("braze_users"))
    creates = [r for r in sb.requests() if r.path.startswith("/users/export/")
               and r.method == "POST"]
    assert {r.json["output_format"] for r in creates} == {"zip"}
    assert not [r for r in sb.requests() if r.origin == "download"]  # no signed URL used
    # State held the bucket and the keys read, never credentials; finished exports leave it.
    entries = exports_in_state(run)
    assert entries and all(e["handle"]["bucket"] == f"s3://{BRAZE_BUCKET}" for e in entries)
    read = {key for e in entries for key in e["parts_done"]}
    assert read and all(k.startswith("segment-export/") and "decoy" not in k for k in read)
    assert not any(k.rsplit("/", 1)[-1] in ("a.gz", "b.gz", "c.gz") for k in read)
    state_text = str(run.states)
    for secret in sb.s3.users["tap"].env().values():
        if secret.startswith(("AKIA", "us-")):
            continue
        assert secret not in state_text and secret not in run.stderr
    assert not in_flight(run.last_state)
    assert partition_state(run.last_state, "braze_users", export_scope="global_control_group")
    assert "complete: " in run.stderr and "unchanged for" in run.stderr


def test_gzip_files_are_streamed(bucket_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = bucket_sandbox
    config = bucket_config(sb, tmp_path, output_format="gzip")
    config["braze"]["global_control_group"] = False
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sb, run, SCOPES[:2])
    keys = sb.s3.keys(BRAZE_BUCKET, "segment-export/seg-alpha/")
    assert keys and all(k.endswith(".gz") for k in keys)
    assert {r.json["output_format"] for r in sb.requests()
            if r.path == "/users/export/segment"} == {"gzip"}
    assert list((tmp_path / "spool").iterdir()) == []


def test_files_still_arriving_while_the_tap_polls(bucket_sandbox: Sandbox,
                                                  tmp_path: Path) -> None:
    """Files come 1 s apart; the tap waits until the set has not changed for 2.5 s."""
    sb = bucket_sandbox
    sb.braze.file_interval_seconds = 1.0
    sb.braze.users_per_file = 20  # seg-alpha: 4 files
    config = bucket_config(sb, tmp_path, settle_seconds=2.5)
    config["braze"]["segment_ids"] = ["seg-alpha"]
    config["braze"]["global_control_group"] = False
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sb, run, ("segment:seg-alpha",))
    seen_uploading = [int(n) for n in re.findall(r"UPLOADING \((\d+) file", run.stderr)]
    assert seen_uploading and min(seen_uploading) < 4, "the tap never saw the export half done"
    assert "complete: 4 file(s)" in run.stderr


def test_a_date_folder_later_than_the_request_is_found(bucket_sandbox: Sandbox,
                                                       tmp_path: Path) -> None:
    """Braze names the folder by the day the export finished (its docs' example: 2 days on)."""
    sb = bucket_sandbox
    sb.braze.date_folder_delay_days = 2
    run = run_tap(tmp_path, bucket_config(sb, tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sb, run)


def test_killed_mid_object_resumes_without_rereading(bucket_sandbox: Sandbox, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sb = bucket_sandbox
    sb.braze.users = 900
    sb.braze.users_per_file = 200  # seg-alpha: 3 files of ~300 KB of records, > a pipe holds
    config = bucket_config(sb, tmp_path)
    config["braze"]["segment_ids"] = ["seg-alpha"]
    config["braze"]["global_control_group"] = False
    creates_before = len([r for r in sb.requests() if r.method == "POST"])

    def mid_second_file(messages: list[dict[str, Any]]) -> bool:
        states = [m for m in messages if m.get("type") == "STATE"]
        done = [e for s in states[-1:] for e in in_flight(s["value"]) if e["parts_done"]]
        return bool(done) and messages[-1].get("type") == "RECORD"

    killed = run_and_signal(tmp_path, config, signal.SIGKILL, mid_second_file)
    assert killed.returncode == -signal.SIGKILL
    entry = in_flight(killed.last_state)[0]
    assert 1 <= len(entry["parts_done"]) < 3
    resumed = run_tap(tmp_path, config, state=killed.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len([r for r in sb.requests() if r.method == "POST"]) == creates_before + 1
    assert "resuming export" in resumed.stderr
    assert resumed.stderr.count("already read by an earlier run") == len(entry["parts_done"])
    want = {u["braze_id"] for u in sb.braze_sim.expected_users("segment:seg-alpha", FIELDS)}
    got_killed = {r["braze_id"] for r in killed.records("braze_users")}
    got_resumed = [r["braze_id"] for r in resumed.records("braze_users")]
    assert got_killed | set(got_resumed) == want
    assert len(got_resumed) <= len(want) - 199 * len(entry["parts_done"])


def test_access_denied_names_bucket_key_and_permission(bucket_sandbox: Sandbox, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A role that may list the bucket but not read objects (no s3:GetObject)."""
    sb = bucket_sandbox
    for name, value in sb.s3.users["lister"].env().items():
        monkeypatch.setenv(name, value)
    config = bucket_config(sb, tmp_path)
    config["braze"]["segment_ids"] = ["seg-alpha"]
    config["braze"]["global_control_group"] = False
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert f"s3://{BRAZE_BUCKET}/segment-export/seg-alpha/" in run.stderr
    assert "AccessDenied reading it" in run.stderr and "s3:GetObject" in run.stderr
    assert not run.records("braze_users")


def test_unknown_credentials_and_missing_bucket(bucket_sandbox: Sandbox, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sb = bucket_sandbox
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    config = bucket_config(sb, tmp_path)
    config["braze"]["segment_ids"] = ["seg-alpha"]
    config["braze"]["global_control_group"] = False
    denied = run_tap(tmp_path, config)
    assert denied.returncode != 0
    assert "AccessDenied listing it" in denied.stderr and "s3:ListBucket" in denied.stderr
    assert "not-the-secret" not in denied.stderr

    for name, value in sb.s3.users["admin"].env().items():
        monkeypatch.setenv(name, value)
    config["braze"]["storage"]["url"] = "s3://no-such-bucket"
    missing = run_tap(tmp_path, config)
    assert missing.returncode != 0
    assert "s3://no-such-bucket/: NoSuchBucket" in missing.stderr
    assert "braze.storage.url" in missing.stderr


def test_a_corrupt_file_names_its_key(bucket_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = bucket_sandbox
    sb.braze.corrupt_archive = True  # the second file of each export
    config = bucket_config(sb, tmp_path)
    config["braze"]["segment_ids"] = ["seg-alpha"]
    config["braze"]["global_control_group"] = False
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    keys = sorted(sb.s3.keys(BRAZE_BUCKET, "segment-export/seg-alpha/"))
    error = next(line for line in run.stderr.splitlines() if "export(s) failed" in line)
    assert "corrupt or truncated data" in error
    named = [key for key in keys if f"s3://{BRAZE_BUCKET}/{key} member " in error]
    assert len(named) == 1, run.stderr[-2000:]
    # Files before it (in key order) were read and checkpointed: their users are not lost.
    entry = in_flight(run.last_state)[0]
    assert entry["parts_done"] == keys[:keys.index(named[0])]
    assert bool(run.records("braze_users")) == bool(entry["parts_done"])


def test_bucket_export_without_storage_settings_says_what_to_set(bucket_sandbox: Sandbox,
                                                                 tmp_path: Path) -> None:
    sb = bucket_sandbox
    config = braze_config(sb, tmp_path, external_ids=[], global_control_group=False,
                          segment_ids=["seg-alpha"])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "exports to its own S3/Azure/GCS bucket. Set braze.storage.url" in run.stderr


def test_the_readme_read_only_policy_is_enough(bucket_sandbox: Sandbox, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The IAM policy the README gives, applied as it is (bucket name swapped), syncs."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    policy = readme.split("<!-- iam-policy -->\n```json\n", 1)[1].split("```", 1)[0]
    policy = policy.replace("acme-braze-exports", BRAZE_BUCKET)
    assert json.loads(policy)["Statement"]
    sb = bucket_sandbox
    for name, value in sb.s3.add_user("readme-policy", policy).env().items():
        monkeypatch.setenv(name, value)
    config = bucket_config(sb, tmp_path)
    config["braze"]["segment_ids"] = ["seg-beta"]
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sb, run, ("segment:seg-beta", "global_control_group"))


def test_the_workspace_with_cloud_storage_exports_to_the_bucket(sandbox: Sandbox,
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """The sandbox's second Braze workspace (the demo's) has S3 set up: no scenario needed."""
    from sandbox.braze import BUCKET_API_KEY

    for name, value in sandbox.s3.users["tap"].env().items():
        monkeypatch.setenv(name, value)
    config = bucket_config(sandbox, tmp_path)
    config["braze"].update(api_key=BUCKET_API_KEY, segment_ids=["seg-alpha"],
                           global_control_group=False)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_every_user_once(sandbox, run, ("segment:seg-alpha",))
    assert sandbox.s3.keys(BRAZE_BUCKET, "segment-export/seg-alpha/")
