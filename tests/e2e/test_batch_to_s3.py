"""Singer BATCH files to object storage (`batch_config.storage.root: s3://…`, the SDK's fsspec
path) against a real S3 API on loopback with IAM enforced (`sandbox.s3`, moto's server).

The tap gets the `tap` user's key and the endpoint from the environment only, as a user's
tap gets them from the AWS credentials chain: the config holds no key and no endpoint.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sandbox import Sandbox
from sandbox.objectstore import BRAZE_BUCKET, WAREHOUSE_BUCKET
from tap_profile_export.windows import to_rfc3339
from tests.clock import tap_env

from .conftest import TAP_EXECUTABLE, TapRun, run_tap

STREAMS = ("profiles", "events", "reachability_events", "braze_users")


def _config(sandbox: Sandbox) -> dict[str, Any]:
    config = sandbox.tap_config()
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=14))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    return config


def _batch_config(root: str) -> dict[str, Any]:
    return {"encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root, "prefix": "batch-"}, "batch_size": 50}


def _by_key(run: TapRun, stream: str, rows: list[dict[str, Any]]) -> dict[tuple, dict]:
    """Rows by primary key (from the run's SCHEMA), without `exported_at`: the moment each
    run asked for its export, which differs between two runs by design."""
    keys = next(m["key_properties"] for m in run.messages
                if m["type"] == "SCHEMA" and m["stream"] == stream)
    found = {tuple(row[k] for k in keys): {f: v for f, v in row.items() if f != "exported_at"}
             for row in rows}
    assert len(found) == len(rows), f"{stream}: duplicate primary keys"
    return found


def _assert_no_secret(sandbox: Sandbox, user: str, *texts: str) -> None:
    secret = sandbox.s3.users[user].secret_access_key
    assert not any(secret in text for text in texts), "the secret access key was printed"


def test_batch_files_land_in_the_bucket_and_hold_every_record(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(sandbox)
    record_run = run_tap(tmp_path, config)
    assert record_run.returncode == 0, record_run.stderr[-3000:]

    folder = f"runs/{uuid.uuid4()}"
    root = f"s3://{WAREHOUSE_BUCKET}/{folder}"
    config["batch_config"] = _batch_config(root)
    env = sandbox.s3.env("tap")
    run = run_tap(tmp_path, config, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    _assert_no_secret(sandbox, "tap", run.stdout, run.stderr)

    batches = [m for m in run.messages if m["type"] == "BATCH"]
    manifest = [url for m in batches for url in m["manifest"]]
    assert all(url.startswith(f"{root}/batch-") for url in manifest), manifest[:3]
    # Every object under the root is in a manifest, and every manifest file is an object.
    keys = sandbox.s3.keys(WAREHOUSE_BUCKET, f"{folder}/")
    assert sorted(f"s3://{WAREHOUSE_BUCKET}/{key}" for key in keys) == sorted(manifest)

    client = sandbox.s3.client()
    for stream in STREAMS:
        rows: list[dict[str, Any]] = []
        for message in (b for b in batches if b["stream"] == stream):
            for url in message["manifest"]:
                parts = urlsplit(url)
                body = client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
                rows += [json.loads(line)
                         for line in gzip.decompress(body["Body"].read()).splitlines()]
        expected = record_run.records(stream)
        assert expected, f"{stream}: the RECORD run emitted nothing: the test proves nothing"
        assert _by_key(run, stream, rows) == _by_key(record_run, stream, expected), stream
    assert max(sum(b["stream"] == s for b in batches) for s in STREAMS) > 1, \
        "no stream had more than one BATCH message"


@pytest.mark.parametrize(("user", "bucket", "operation"), [
    # No right at all on the bucket: s3fs cannot see it (HeadBucket) and tries to create it.
    ("lister", WAREHOUSE_BUCKET, "CreateBucket"),
    # Read-only on the bucket (the tap's policy for Braze exports): the upload is refused.
    ("tap", BRAZE_BUCKET, "CreateMultipartUpload"),
])
def test_a_user_who_may_not_write_the_bucket_fails_the_run_naming_bucket_and_permission(
        sandbox: Sandbox, tmp_path: Path, user: str, bucket: str, operation: str) -> None:
    config = {**_config(sandbox), "batch_config": _batch_config(f"s3://{bucket}/batches")}
    before = sandbox.s3.keys(bucket)
    run = run_tap(tmp_path, config, env=sandbox.s3.env(user))
    assert run.returncode == 1, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert errors, run.stderr[-3000:]
    assert f"AccessDenied on {operation}" in errors[-1], errors[-1]
    assert f"s3:PutObject on arn:aws:s3:::{bucket}/batches/*" in errors[-1], errors[-1]
    assert f"s3:ListBucket on arn:aws:s3:::{bucket}" in errors[-1], errors[-1]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert not [m for m in run.messages if m["type"] == "BATCH"]
    assert sandbox.s3.keys(bucket) == before
    _assert_no_secret(sandbox, user, run.stdout, run.stderr)


def test_a_run_stopped_mid_file_leaves_no_object_and_no_multipart_upload(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """The SDK writes inside an fsspec transaction: s3fs uploads each file as a multipart
    upload completed only when the file is. SIGTERM while a file is open must not leave that
    upload behind (billed until a lifecycle rule aborts it); the tap aborts it."""
    sandbox.apsis.ready_after = 10**6  # APSIS never gets ready: `events` waits mid-file
    config = {k: v for k, v in _config(sandbox).items() if k != "braze"}
    folder = f"runs/{uuid.uuid4()}"
    config["batch_config"] = {**_batch_config(f"s3://{WAREHOUSE_BUCKET}/{folder}"),
                              "batch_size": 10_000}
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    # `events` (the SDK syncs streams by name, after the APSIS definitions) has read Batch's
    # events export: its records are in the open `events` file, and APSIS's are awaited.
    read = re.compile(r"batch events export .*: export \S+ read:")
    with (tmp_path / "stdout.jsonl").open("w") as stdout:
        proc = subprocess.Popen(
            [TAP_EXECUTABLE, "--config", str(config_path)], stdout=stdout,
            stderr=subprocess.PIPE, text=True,
            env={**os.environ, **tap_env(), **sandbox.s3.env("tap"), "PYTHONUNBUFFERED": "1"})
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if read.search(line):
                proc.send_signal(signal.SIGTERM)
                break
        _, rest = proc.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert proc.returncode == 1 and "received SIGTERM" in stderr, stderr[-3000:]
    # Streams synced before it (the APSIS definitions) finished their files; `events` did not.
    keys = sandbox.s3.keys(WAREHOUSE_BUCKET, f"{folder}/")
    assert [key for key in keys if "--events-" in key] == [], keys
    uploads = sandbox.s3.client().list_multipart_uploads(Bucket=WAREHOUSE_BUCKET, Prefix=folder)
    assert not uploads.get("Uploads"), uploads["Uploads"]
    assert "unfinished upload stays" not in stderr, stderr[-3000:]
