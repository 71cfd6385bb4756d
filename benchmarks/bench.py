"""Benchmark: the real tap CLI against the sandbox on large synthetic exports.

    python benchmarks/bench.py [--big] [--only batch,apsis,braze] [--no-write]

Per vendor it generates a large export through the sandbox's own generators (default ~200 MB
of uncompressed JSON each; `--big` ~1 GB), runs `tap-profile-export` with stdout to /dev/null
and measures wall time and peak RSS of that process, then adds two reference rows on the same
files: the SDK's defaults (default writer, full type conformance) and the parse-only ceiling
(decompress + parse, no Singer output). A last row compares waiting for exports together with
waiting one after another. Prints one table and writes it to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402
from tap_profile_export.readers import CountingReader, iter_object_items, iter_records  # noqa: E402
from tap_profile_export.vendors.braze import _iter_archive  # noqa: E402
from tap_profile_export.windows import to_rfc3339  # noqa: E402

TAP = str(Path(sys.executable).parent / "tap-profile-export")
# Records per ~200 MB of uncompressed JSON, measured on the sandbox's generators.
SIZES = {"batch": 740_000, "apsis": 560_000, "braze": 262_000}


@dataclass
class Row:
    """One line of the table."""

    name: str
    records: int
    megabytes: float
    seconds: float
    peak_rss_mib: float | None

    def cells(self) -> list[str]:
        """Formatted cells."""
        rate = self.records / self.seconds if self.seconds else 0
        return [self.name, f"{self.records:,}", f"{self.megabytes:,.0f}", f"{self.seconds:.1f}",
                f"{rate:,.0f}", f"{self.megabytes / self.seconds:.1f}" if self.seconds else "",
                f"{self.peak_rss_mib:.0f}" if self.peak_rss_mib else "-"]


def configure(sb: Sandbox, vendor: str, scale: float) -> dict[str, Any]:
    """Scenario sizes and a tap config (that vendor only) for one benchmark run."""
    count = int(SIZES[vendor] * scale)
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - {vendor}}
    config["end_date"] = to_rfc3339(sb.anchor)
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=30))
    # The sandbox generates a file while answering the request that first needs it: at 1 GB
    # that takes minutes, so allow for it (the tap's own defaults are 300 s and 4 h).
    config["http_timeout_seconds"] = 900
    config["poll"] = {**config["poll"], "timeout_seconds": 3600}
    if vendor == "batch":
        sb.batch.events, sb.batch.part_records = count, 200_000
        config["batch"]["attributes"], config["batch"]["identifiers"] = ["$language"], ["custom_id"]
        sb.batch.profiles, sb.batch.reachability_events = 10, 10
    elif vendor == "apsis":
        sb.apsis.profiles, sb.apsis.events_per_profile = count, 4
        config["apsis"]["window_days"] = 92
        config["apsis"]["events"] = []  # the profiles document: the big single-JSON case
    else:
        sb.braze.users = count
        sb.braze.members = max(1, count // 5000)
        config["braze"].update(segment_ids=["seg-alpha"], global_control_group=False,
                               external_ids=[])
    return config


def run_tap(config: dict[str, Any], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, records) of one CLI run with stdout to a counting pipe."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    started = time.perf_counter()
    proc = subprocess.Popen([TAP, "--config", handle.name], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, **env})
    records = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            records += 1
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    os.unlink(handle.name)
    if status != 0:
        raise SystemExit(f"tap failed (status {status}) for {config.keys()}")
    return seconds, usage.ru_maxrss / 1024, records


def parse_only(vendor: str, cache: Path) -> tuple[float, int, float]:
    """(seconds, records, uncompressed MB) to decompress and parse the export's files."""
    started, records, size = time.perf_counter(), 0, 0
    files = [p for p in cache.rglob("*") if p.is_file() and p.suffix not in (".cut",)]
    if vendor == "batch":
        files = [p for p in files if "part" in p.name]
    elif vendor == "apsis":
        files = [p for p in files if p.name.startswith("apsis-") and p.suffix == ".gz"]
    else:
        files = [p for p in files if p.name.startswith("braze-")]
    for path in files:
        with path.open("rb") as raw:
            if vendor == "apsis":
                counter = CountingReader(raw)
                records += sum(1 for _ in iter_object_items(counter, path.name, "profiles"))
            elif vendor == "braze":
                records += sum(1 for _ in _iter_archive(raw, path.name))
            else:
                records += sum(1 for _ in iter_records(raw, path.name))
    seconds = time.perf_counter() - started
    for path in files:  # uncompressed size, measured outside the timed section
        size += _uncompressed_size(vendor, path)
    return seconds, records, size / 1e6


def _uncompressed_size(vendor: str, path: Path) -> int:
    import gzip
    import zipfile

    if vendor == "braze":
        with zipfile.ZipFile(path) as archive:
            return sum(i.file_size for i in archive.infolist())
    total = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += len(chunk)
    return total


def batch_messages_row(label: str, config: dict[str, Any], megabytes: float) -> Row:
    """The same export with Singer BATCH messages (jsonl.gz files) instead of RECORDs."""
    import gzip

    with tempfile.TemporaryDirectory() as root:
        batch_config = {"encoding": {"format": "jsonl", "compression": "gzip"},
                        "storage": {"root": f"file://{root}"}, "batch_size": 100_000}
        seconds, rss, _ = run_tap({**config, "batch_config": batch_config}, {})
        records = 0
        for path in Path(root).rglob("*.gz"):
            with gzip.open(path, "rb") as handle:
                records += sum(1 for _ in handle)
    return Row(f"{label}: tap, BATCH messages (jsonl.gz)", records, megabytes, seconds, rss)


def vendor_rows(vendor: str, scale: float, quick: bool = False) -> list[Row]:
    """Tap (default settings), tap with conformance off, SDK defaults, parse-only."""
    rows: list[Row] = []
    with Sandbox(seed=99) as sb:
        config = configure(sb, vendor, scale)
        label = {"batch": "Batch events (NDJSON.gz parts)",
                 "apsis": "APSIS profiles (one JSON.gz document)",
                 "braze": "Braze users (NDJSON in ZIP)"}[vendor]
        run_tap({**config, "type_conformance": "none"}, {})  # warm-up: the sandbox generates
        parse_seconds, parse_records, megabytes = parse_only(vendor, sb.cache_dir)
        seconds, rss, records = run_tap(config, {})
        rows.append(Row(f"{label}: tap, default settings", records, megabytes, seconds, rss))
        if quick:
            return rows
        if vendor == "batch":
            rows.append(batch_messages_row(label, config, megabytes))
        no_conform = {**config, "type_conformance": "none"}
        seconds, rss, records = run_tap(no_conform, {})
        rows.append(Row(f"{label}: tap, type_conformance=none", records, megabytes, seconds,
                        rss))
        seconds, rss, records = run_tap(config, {"TAP_PROFILE_EXPORT_REFERENCE": "sdk-defaults"})
        rows.append(Row(f"{label}: ref (a) SDK defaults", records, megabytes, seconds, rss))
        rows.append(Row(f"{label}: ref (b) parse only", parse_records, megabytes,
                        parse_seconds, None))
    return rows


def concurrency_rows(delay: float) -> list[Row]:
    """Wall time of 8+ exports over all vendors, together vs one after another."""
    rows = []
    for name, sequential in (("together", False), ("one after another", True)):
        with Sandbox(seed=5) as sb:
            for scenario in (sb.batch, sb.apsis, sb.braze):
                scenario.ready_after = 0
                scenario.ready_after_seconds = delay
            config = sb.tap_config()
            config["end_date"] = to_rfc3339(sb.anchor)
            config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=21))
            config["poll"] = {"initial_interval_seconds": 0.25, "max_interval_seconds": 0.5,
                              "timeout_seconds": 600}
            for vendor in ("batch", "apsis", "braze"):
                # Every export at once (APSIS' default of 3 would queue one of its 4).
                config[vendor]["max_concurrent_exports"] = 5
            env = {"TAP_PROFILE_EXPORT_SEQUENTIAL": "1"} if sequential else {}
            seconds, rss, records = run_tap(config, env)
            exports = sum(1 for r in sb.requests() if r.method == "POST" and r.path in {
                "/2.4/profiles/export", "/audience/profiles/exports", "/users/export/segment",
                "/users/export/global_control_group"})
            rows.append(Row(f"all vendors, {exports} exports ready after {delay:.0f}s each: "
                            f"{name}", records, 0, seconds, rss))
    return rows


def machine() -> str:
    """A one-line machine description."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main() -> int:
    """Run everything, print the table, write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", action="store_true", help="~1 GB per vendor instead of 200 MB")
    parser.add_argument("--scale", type=float, help="size multiplier (1 = ~200 MB)")
    parser.add_argument("--only", default="batch,apsis,braze")
    parser.add_argument("--ready-after-seconds", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="only the default-settings row per vendor (memory flatness checks)")
    args = parser.parse_args()
    scale = args.scale or (5.0 if args.big else 1.0)
    rows: list[Row] = []
    for vendor in args.only.split(","):
        print(f"… {vendor}", file=sys.stderr, flush=True)
        rows += vendor_rows(vendor, scale, args.quick)
    if args.quick:
        for row in rows:
            print(" | ".join(row.cells()))
        return 0
    print("… concurrent waiting", file=sys.stderr, flush=True)
    rows += concurrency_rows(args.ready_after_seconds)
    header = ["run", "records", "MB", "seconds", "records/s", "MB/s", "peak RSS MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    ratios = []
    per_vendor = [r for r in rows[:-2] if "BATCH messages" not in r.name]
    for index in range(0, len(per_vendor), 4):
        tap, _, sdk, ceiling = per_vendor[index:index + 4]
        ratios.append(f"- {tap.name.split(':')[0]}: tap / SDK defaults = "
                      f"{sdk.seconds / tap.seconds:.2f}x, tap / parse-only ceiling = "
                      f"{(tap.records / tap.seconds) / (ceiling.records / ceiling.seconds):.2f}")
    together, sequential = rows[-2], rows[-1]
    ratios.append(f"- waiting together: {together.seconds:.1f}s vs one after another "
                  f"{sequential.seconds:.1f}s ({sequential.seconds / together.seconds:.1f}x "
                  f"faster; slowest single export is ready after "
                  f"{args.ready_after_seconds:.0f}s)")
    text = "\n".join([*lines, "", *ratios])
    print(text)
    if not args.no_write:
        scale_note = f"scale {scale:g} (1 = ~200 MB of uncompressed JSON per vendor)"
        (ROOT / "BENCHMARKS.md").write_text(
            f"# Benchmarks\n\n`make bench` ({scale_note}), {time.strftime('%Y-%m-%d')}.\n\n"
            f"Machine: {machine()}.\n\nMB = 10^6 bytes of uncompressed JSON; seconds = wall "
            f"time of the whole CLI process; peak RSS of the tap process.\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
