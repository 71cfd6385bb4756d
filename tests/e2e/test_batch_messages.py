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


def test_state_after_each_batch_message_resumes_without_losing_records(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Stop right after any BATCH message and resume from the STATE that follows it: the
    records in the files announced so far plus the resumed run are every record. Batches of 19
    end one record before a part of 20 does: a writer that read two records ahead before
    announcing its file would let the STATE mark that part read with its last record in no
    announced file (checked by mutation: such a writer fails here)."""
    sandbox.batch.part_records = 20
    sandbox.batch.profiles = 100
    config = sandbox.tap_config()
    config = {k: v for k, v in config.items() if k not in ("apsis", "braze")}
    config["start_date"] = to_rfc3339(sandbox.anchor - timedelta(days=3))
    config["end_date"] = to_rfc3339(sandbox.anchor)
    baseline = run_tap(tmp_path, config)
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    streams = {"profiles": "profile_id", "events": "event_id", "reachability_events": "event_id"}

    def keys(stream: str, rows: list[dict]) -> set[tuple[str, str]]:
        return {(stream, r[streams[stream]]) for r in rows}

    expected = set().union(*(keys(s, baseline.records(s)) for s in streams))
    root = tmp_path / "batches"
    root.mkdir()
    batched = run_tap(tmp_path, {**config, "batch_config": {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{root}"}, "batch_size": 19}})
    assert batched.returncode == 0, batched.stderr[-3000:]
    announced: set[tuple[str, str]] = set()
    cuts: list[tuple[set[tuple[str, str]], dict]] = []
    state: dict = {}
    for index, message in enumerate(batched.messages):
        if message["type"] == "STATE":
            state = message["value"]
        if message["type"] != "BATCH":
            continue
        for url in message["manifest"]:
            with gzip.open(urlparse(url).path, "rt") as handle:
                announced |= keys(message["stream"], [json.loads(line) for line in handle])
        # The STATE right after the BATCH message (none when the state did not change).
        following = batched.messages[index + 1]
        cuts.append((set(announced), following["value"] if following["type"] == "STATE"
                     else state))
    assert announced == expected
    # Resume from each distinct state at its first cut (the fewest records announced with it).
    chosen = [cut for i, cut in enumerate(cuts) if i == 0 or cut[1] != cuts[i - 1][1]]
    assert any(e["parts_done"] for _, state in chosen for b in state["bookmarks"].values()
               for p in b.get("partitions", []) for e in p.get("exports", {}).values()), \
        "no STATE had parts marked read: the test would prove nothing"
    for seen, state in chosen:
        resumed = run_tap(tmp_path, config, state=state)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        got = set().union(*(keys(s, resumed.records(s)) for s in streams))
        assert seen | got == expected, sorted(expected - seen - got)[:5]
