"""A fourth vendor is one folder + one sandbox module + one registry line: the toy vendor of
`tests/toy_vendor/` (nothing else in the tap knows it) runs end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tap_profile_export.vendors import REGISTRY, sources
from tests.toy_vendor import ENTRY
from tests.toy_vendor.emulator import API_KEY, USERS, ToyEmulator

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_line_is_all_the_streams_need(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "toy", ENTRY)
    assert sources("profiles") == ("batch", "apsis", "toy")
    assert sources("braze_users") == ("braze",)


def test_toy_vendor_runs_through_the_cli(tmp_path: Path) -> None:
    with ToyEmulator() as toy:
        config = {"toy": {"api_key": API_KEY, "api_url": toy.url},
                  "poll": {"initial_interval_seconds": 0.01, "max_interval_seconds": 0.02}}
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-m", "tests.toy_vendor.launch", "--config", str(config_path)],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    records = [m["record"] for m in messages if m.get("type") == "RECORD"]
    assert {(r["source"], r["profile_id"]) for r in records} == {("toy", u["id"]) for u in USERS}
    assert all(m["stream"] == "profiles" for m in messages if m.get("type") == "RECORD")
    # Waited by the coordinator (queued → working → done), with the toy's status words.
    assert "status queued" in proc.stderr and "ready after" in proc.stderr
    assert toy.requests.count("GET /exports/toy_1") == 3
    state = [m["value"] for m in messages if m.get("type") == "STATE"][-1]
    partitions = state["bookmarks"]["profiles"]["partitions"]
    assert [p["context"] for p in partitions] == [{"source": "toy"}]
    assert "exports" not in partitions[0]  # read completely: nothing left in flight
    assert API_KEY not in proc.stderr  # its secret setting is masked like any other
