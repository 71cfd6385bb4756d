"""Memory stays flat: a ≥ 200 MB export (uncompressed JSON) per vendor through the real CLI,
peak RSS of the tap process asserted ≤ 150 MiB (a generous cap, not a timing), with RECORD
messages and with BATCH messages (batch files of 100,000 records).

The tap is started through `scripts/peak_rss.py`, a small launcher: started straight from
pytest (hundreds of MiB after the sandbox generated the export), its `ru_maxrss` would
include pytest's high-water mark (fork/vfork before exec), not only its own."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tap_profile_export.windows import to_rfc3339

from .conftest import TAP_EXECUTABLE

CAP_MIB = 150
MB = 1_000_000
LAUNCHER = Path(__file__).resolve().parents[2] / "scripts" / "peak_rss.py"


def run_measured(tmp_path: Path, config: dict[str, Any]) -> tuple[int, float, int]:
    """(exit status, peak RSS MiB of the tap process, RECORD messages) with stdout counted."""
    path = tmp_path / "config.json"
    # Generating 200 MB in the sandbox takes a while on a busy machine: no deadline may fire.
    config = {**config, "http_timeout_seconds": 600,
              "poll": {**config["poll"], "timeout_seconds": 1800}}
    path.write_text(json.dumps(config))
    result = tmp_path / "peak_rss.txt"
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), str(result),
                                 TAP_EXECUTABLE, "--config", str(path)],
                                stdout=subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        records = sum(1 for line in proc.stdout if line.startswith(b'{"type":"RECORD"'))
        proc.wait()
    kib, status = result.read_text().split()
    assert int(status) == 0, stderr_path.read_text()[-3000:]
    return int(status), int(kib) / 1024, records


def uncompressed_bytes(sb: Sandbox) -> int:
    import gzip
    import zipfile

    total = 0
    for path in sb.cache_dir.rglob("*"):
        if path.name.startswith("braze-"):
            with zipfile.ZipFile(path) as archive:
                total += sum(i.file_size for i in archive.infolist())
        elif path.suffix == ".gz":
            with gzip.open(path) as handle:
                while chunk := handle.read(1 << 20):
                    total += len(chunk)
    return total


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["batch", "apsis", "braze"])
def test_peak_rss_stays_under_cap_on_a_200mb_export(tmp_path: Path, vendor: str) -> None:
    with Sandbox(seed=3) as sb:
        config = big_export_config(sb, vendor, tmp_path)
        status, peak_mib, records = run_measured(tmp_path, config)
        assert status == 0
        size = uncompressed_bytes(sb)
    assert size >= 200 * MB, f"export was only {size / MB:.0f} MB"
    assert records > 90_000
    assert peak_mib <= CAP_MIB, f"{vendor}: peak RSS {peak_mib:.0f} MiB for {size / MB:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["batch", "braze"])
def test_batch_messages_peak_rss_stays_under_cap_at_batch_size_100k(tmp_path: Path,
                                                                    vendor: str) -> None:
    """BATCH mode writes records into the batch file as they are read: before, the SDK's
    batcher held each batch of 100,000 records in memory (364 MiB on Batch events, 582 MiB on
    Braze users)."""
    root = tmp_path / "batches"
    with Sandbox(seed=3) as sb:
        config = big_export_config(sb, vendor, tmp_path)
        config["batch_config"] = {"encoding": {"format": "jsonl", "compression": "gzip"},
                                  "storage": {"root": f"file://{root}"}, "batch_size": 100_000}
        status, peak_mib, records = run_measured(tmp_path, config)
        assert status == 0
        size = uncompressed_bytes(sb)
    assert records == 0
    written = 0
    for path in root.rglob("*.json.gz"):
        with gzip.open(path, "rb") as handle:
            written += sum(1 for _ in handle)
    assert size >= 200 * MB, f"export was only {size / MB:.0f} MB"
    assert written > 100_000  # more than one full batch
    assert peak_mib <= CAP_MIB, f"{vendor}: peak RSS {peak_mib:.0f} MiB for {size / MB:.0f} MB"


def big_export_config(sb: Sandbox, vendor: str, tmp_path: Path) -> dict[str, Any]:
    """A one-vendor config whose export is ≥ 200 MB of uncompressed JSON."""
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["end_date"] = to_rfc3339(sb.anchor)
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=30))
    config["temp_dir"] = str(tmp_path)
    if vendor == "batch":
        sb.batch.events, sb.batch.part_records = 760_000, 250_000
        sb.batch.profiles = sb.batch.reachability_events = 10
    elif vendor == "apsis":
        sb.apsis.profiles = 580_000
        config["apsis"]["events"] = []
    else:
        sb.braze.users, sb.braze.members = 285_000, 36  # ~205 MB of documented fields
        config["braze"].update(segment_ids=["seg-alpha"], global_control_group=False,
                               external_ids=[])
    return config
