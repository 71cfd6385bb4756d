"""Singer BATCH messages (the SDK's `batch_config`): every record lands in a batch file, and no
STATE is written before the BATCH message holding the records it covers."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339

from .conftest import run_tap


def test_batch_mode_writes_every_record_for_every_stream(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.tap_config()
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=14))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    record_run = run_tap(tmp_path, config)
    assert record_run.returncode == 0, record_run.stderr[-3000:]

    root = tmp_path / "batches"
    root.mkdir()
    config["batch_config"] = {"encoding": {"format": "jsonl", "compression": "gzip"},
                              "storage": {"root": f"file://{root}", "prefix": "batch-"},
                              "batch_size": 100}
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    batches = [m for m in run.messages if m["type"] == "BATCH"]
    for stream in ("profiles", "events", "reachability_events", "braze_users"):
        rows = []
        for message in (b for b in batches if b["stream"] == stream):
            for url in message["manifest"]:
                with gzip.open(urlparse(url).path, "rt") as handle:
                    rows += [json.loads(line) for line in handle]
        assert len(rows) == len(record_run.records(stream)), stream
        first_batch = next(i for i, m in enumerate(run.messages)
                           if m["type"] == "BATCH" and m["stream"] == stream)
        for message in run.messages[:first_batch]:
            if message["type"] == "STATE":
                bookmark = message["value"]["bookmarks"].get(stream, {})
                for partition in bookmark.get("partitions", []):
                    # In-flight exports may be recorded (that is what resumes them), but
                    # nothing may be marked read before its records were sent.
                    assert not partition.get("replication_key_value"), stream
                    assert not any(e["parts_done"]
                                   for e in partition.get("exports", {}).values()), stream
