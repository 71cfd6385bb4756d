"""Benchmark: the real tap CLI against the sandbox on large synthetic exports, and the whole
pipeline into PostgreSQL.

    python benchmarks/bench.py [--big] [--quick] [--only batch,apsis,braze] [--no-write]
                               [--e2e batch,braze] [--rounds N] [--pipelinewise]
    python benchmarks/bench.py --huge      # ~5 GB of Braze users, next to ~200 MB (not in CI)

Per vendor it generates a large export through the sandbox's own generators (default ~200 MB
of uncompressed JSON each; `--big` ~1 GB), runs `tap-profile-export` with stdout to /dev/null
and measures wall time and peak RSS of that process, then adds two reference rows on the same
files: the SDK's defaults (default writer, full type conformance) and the parse-only ceiling
(decompress + parse, no Singer output). A last row compares waiting for exports together with
waiting one after another.

End to end (`--e2e`, default Batch events and Braze users, on a smaller data set than the tap
rows: the loaders are 10-50x slower than the tap): one embedded PostgreSQL started by the
bench, then on the same export, in one run: the tap alone (stdout to a pipe that counts), tap →
meltanolabs-target-postgres with the loader's defaults, with each setting of `meltano.yml` added
in turn, with the shipped config (`meltano.yml`), BATCH messages end to end, and a bare
PostgreSQL `COPY` of the same rows (the practical limit); for Braze also the shipped config fed
by 0.1.0's schema (`baselines.py array-columns`: arrays of objects as `jsonb[]`, not `jsonb`).
Rows are counted in PostgreSQL and must equal the records the tap emitted. The loader is the
one `meltano install` builds (`make bench` installs it). Tap and target are piped together
exactly as `meltano run` does.
A single load is noisy on a shared 2-core machine, so every end-to-end row runs `--rounds`
times (default 3), interleaved with the other rows, and the table shows the median and the
spread; the ratios also give the range over rounds (rows of one round ran back to back).

Peak RSS is that of each process itself: every command is started through
`scripts/peak_rss.py`, a small launcher (a child started straight from this process would
report this process's high-water mark; see the baseline rows). Prints the tables and writes
them to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from io import BufferedReader
from pathlib import Path
from typing import IO, Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402  (benchmarks/pipeline.py, next to this file)

from sandbox import Sandbox  # noqa: E402
from tap_profile_export.readers import (  # noqa: E402
    CountingReader,
    iter_archive_records,
    iter_object_items,
    iter_records,
)
from tap_profile_export.windows import to_rfc3339  # noqa: E402

TAP = str(Path(sys.executable).parent / "tap-profile-export")
BASELINES = ROOT / "benchmarks" / "baselines.py"


def baseline(name: str) -> list[str]:
    """The command of a reference tap of `baselines.py` (`sdk-defaults`, `sequential`,
    `array-columns`)."""
    return [sys.executable, str(BASELINES), name]
LAUNCHER = ROOT / "scripts" / "peak_rss.py"
TARGET_POSTGRES = ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / \
    "target-postgres"
PIPELINEWISE = ROOT / ".venv-bench" / "pipelinewise" / "bin" / "target-postgres"
# Records per ~200 MB of uncompressed JSON, measured on the sandbox's generators.
SIZES = {"batch": 740_000, "apsis": 560_000, "braze": 285_000}
# End to end (sandbox units as in SIZES): ~41 MB of Batch events (150,000), ~55 MB of Braze
# users (~45,000 records), ~22 MB of APSIS profiles; `--quick` a fifth of that. Enough rows
# that fixed costs (the loader's ~2 s start-up, the tap's ~1 s start-up and export wait) are a
# small part of each load.
E2E_SIZES = {"batch": 150_000, "apsis": 60_000, "braze": 67_500}


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


def launched(command: list[str], result: Path) -> list[str]:
    """`command` started through the peak-RSS launcher (writes `<KiB> <status>` to result)."""
    return [sys.executable, "-I", "-S", str(LAUNCHER), str(result), *command]


def launcher_result(result: Path) -> tuple[float, int]:
    """(peak RSS MiB, exit status) written by the launcher."""
    kib, status = result.read_text().split()
    return int(kib) / 1024, int(status)


def run_tap(config: dict[str, Any], env: dict[str, str],
            keep: Path | None = None, tap: list[str] | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, records) of one CLI run with stdout to a counting pipe
    (RECORD lines also written to `keep` when given); `tap`: a baseline's command."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path, result = Path(tmp) / "config.json", Path(tmp) / "rss"
        config_path.write_text(json.dumps(config))
        started = time.perf_counter()
        proc = subprocess.Popen(launched([*(tap or [TAP]), "--config", str(config_path)],
                                         result),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env={**os.environ, **env})
        assert proc.stdout is not None
        if keep:
            with keep.open("wb") as kept:
                records = 0
                for line in proc.stdout:
                    if line.startswith(RECORD_STARTS):
                        records += 1
                        kept.write(line)
        else:
            records = count_records(proc.stdout)
        proc.wait()
        seconds = time.perf_counter() - started
        rss, status = launcher_result(result)
    if status != 0:
        raise SystemExit(f"tap failed (status {status}) for {config.keys()}")
    return seconds, rss, records


RECORD_STARTS = (b'{"type":"RECORD"', b'{"type": "RECORD"')  # our writer's, the SDK default's


def count_records(stream: IO[bytes]) -> int:
    """RECORD lines in `stream`, counted a MiB at a time in C (`bytes.count`) rather than
    by a Python loop per line in this process, which also serves the sandbox. Measured: no
    difference to the tap's figures here (the reader was never the bottleneck; the 64 KiB
    pipe was, see `writer.widen_stdout_pipe`), but it keeps the reader cheap."""
    records, tail = 0, b"\n"  # `tail`: the unfinished line, after a newline
    while chunk := cast(BufferedReader, stream).read1(1 << 20):
        data = tail + chunk
        cut = data.rfind(b"\n")
        records += sum(data.count(b"\n" + start, 0, cut + 1 if cut >= 0 else 0)
                       for start in RECORD_STARTS)
        tail = data[cut:] if cut >= 0 else data
    return records + sum(tail.startswith(b"\n" + start) for start in RECORD_STARTS)


def baseline_rows() -> list[str]:
    """What a trivial command reports: through the launcher, and started straight from this
    (by now large) process, which is what an inherited high-water mark looks like."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "rss"
        subprocess.run(launched(["true"], result), check=True)
        through, _ = launcher_result(result)
    proc = subprocess.Popen(["true"])
    _, _, usage = os.wait4(proc.pid, 0)
    return [f"- peak RSS baseline: `true` through the launcher = {through:.0f} MiB (the floor "
            f"of every RSS figure here); `true` started straight from the bench process = "
            f"{usage.ru_maxrss / 1024:.0f} MiB (the bench's own high-water mark, inherited)"]


def _count(items: Iterable[object]) -> int:
    return sum(1 for _ in items)


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
                counter = cast(IO[bytes], CountingReader(raw))
                records += _count(iter_object_items(counter, path.name, "profiles"))
            elif vendor == "braze":
                records += _count(iter_archive_records(raw, path.name))
            else:
                records += _count(iter_records(raw, path.name))
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


def batch_messages_row(label: str, config: dict[str, Any], megabytes: float,
                       batch_size: int) -> Row:
    """The same export with Singer BATCH messages (jsonl.gz files) instead of RECORDs."""
    import gzip

    with tempfile.TemporaryDirectory() as root:
        batch_config = {"encoding": {"format": "jsonl", "compression": "gzip"},
                        "storage": {"root": f"file://{root}"}, "batch_size": batch_size}
        seconds, rss, _ = run_tap({**config, "batch_config": batch_config}, {})
        records = 0
        for path in Path(root).rglob("*.gz"):
            with gzip.open(path, "rb") as handle:
                records += sum(1 for _ in handle)
    return Row(f"{label}: tap, BATCH messages (jsonl.gz, batch_size {batch_size:,})", records,
               megabytes, seconds, rss)


def vendor_rows(vendor: str, scale: float, quick: bool = False) -> list[Row]:
    """Tap (default settings), tap with conformance off, SDK defaults, parse-only."""
    rows: list[Row] = []
    with Sandbox(seed=99, real_time=True) as sb:
        config = configure(sb, vendor, scale)
        label = {"batch": "Batch events (NDJSON.gz parts)",
                 "apsis": "APSIS profiles (one JSON.gz document)",
                 "braze": "Braze users (NDJSON in ZIP)"}[vendor]
        run_tap({**config, "type_conformance": "none"}, {})  # warm-up: the sandbox generates
        parse_seconds, parse_records, megabytes = parse_only(vendor, sb.cache_dir)
        seconds, rss, records = run_tap(config, {})
        rows.append(Row(f"{label}: tap, default settings", records, megabytes, seconds, rss))
        if vendor in ("batch", "braze"):  # the SDK's default batch_size, and a large one
            rows += [batch_messages_row(label, config, megabytes, size)
                     for size in (10_000, 100_000)]
        if quick:
            return rows
        no_conform = {**config, "type_conformance": "none"}
        seconds, rss, records = run_tap(no_conform, {})
        rows.append(Row(f"{label}: tap, type_conformance=none", records, megabytes, seconds,
                        rss))
        seconds, rss, records = run_tap(config, {}, tap=baseline("sdk-defaults"))
        rows.append(Row(f"{label}: ref (a) SDK defaults", records, megabytes, seconds, rss))
        rows.append(Row(f"{label}: ref (b) parse only", parse_records, megabytes,
                        parse_seconds, None))
    return rows


def concurrency_rows(delay: float) -> list[Row]:
    """Wall time of 8+ exports over all vendors, together vs one after another."""
    rows = []
    for name, sequential in (("together", False), ("one after another", True)):
        with Sandbox(seed=5, real_time=True) as sb:
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
            seconds, rss, records = run_tap(config, {},
                                            tap=baseline("sequential") if sequential else None)
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


def conditions() -> str:
    """Commit, date, machine and load: what a reader needs to weigh the numbers."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
             if not line.endswith("BENCHMARKS.md")]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"commit {commit}{' + uncommitted changes' if dirty else ''}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}; "
            f"load average (1/5/15 min) at the start: {load}")


#: Above this 1-minute load per core at the start, the machine is busy and figures are low
#: (1.5 on this project's 2 cores).
BUSY_LOAD_PER_CORE = 0.75


def busy_machine() -> str | None:
    """Why the machine is too busy for figures worth writing down (None: idle enough)."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    limit = BUSY_LOAD_PER_CORE * cores
    if load <= limit:
        return None
    return f"1-minute load {load:.1f} at the start is above {limit:.1f} ({cores} cores)"


def write_section(key: str, title: str, body: str) -> None:
    """Replace (or append) one generated section of BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    if not text.startswith("# Benchmarks"):
        text = ("# Benchmarks\n\nGenerated by `benchmarks/bench.py`: `make bench` writes the "
                "first section, `python benchmarks/bench.py --big --quick --only batch,braze "
                "--e2e ''` the second, `python benchmarks/bench.py --huge` the third (each "
                "notes its commit and the machine's load; none is written when the 1-minute "
                "load at the start is above 1.5 on 2 cores unless `--allow-busy`, and then it "
                "says so). Do not edit by hand.\n")
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    block = f"{begin}\n## {title}\n\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


class DiskPeak:
    """Peak extra use of a file system while a run goes on (sampled every 0.2 s): the tap's
    spool files are unlinked at once, so only the file system's counters show them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.baseline = shutil.disk_usage(path).used
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, shutil.disk_usage(self.path).used - self.baseline)

    def __enter__(self) -> DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def huge(args: argparse.Namespace) -> int:
    """`--huge`: ~5 GB of Braze users through the tap, next to the ~200 MB run of the same
    commit: rate, peak RSS, temporary disk."""
    started = conditions()
    busy = busy_machine()
    writing = not args.no_write
    if busy and writing and not args.allow_busy:
        print(f"bench: {busy}: not writing BENCHMARKS.md (--allow-busy to write it marked).",
              file=sys.stderr)
        return 2
    header = ["run", "records", "MB", "seconds", "records/s", "MB/s", "peak RSS MiB",
              "temp disk GB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rates = []
    for scale in (1.0, args.scale or 25.0):
        print(f"… braze at scale {scale:g}", file=sys.stderr, flush=True)
        with Sandbox(seed=99, real_time=True) as sb:
            config = configure(sb, "braze", scale)
            temp = Path(tempfile.mkdtemp(prefix="bench-spool-"))
            config["temp_dir"] = str(temp)
            run_tap({**config, "type_conformance": "none"}, {})  # the sandbox generates
            _, _, megabytes = parse_only("braze", sb.cache_dir)
            with DiskPeak(temp) as disk:
                seconds, rss, records = run_tap(config, {})
            shutil.rmtree(temp, ignore_errors=True)
        row = Row(f"Braze users (NDJSON in ZIP), scale {scale:g}: tap, default settings",
                  records, megabytes, seconds, rss)
        rates.append(records / seconds)
        lines.append("| " + " | ".join([*row.cells(), f"{disk.peak / 1e9:.2f}"]) + " |")
    text = "\n".join([
        "Braze users at ~200 MB and ~5 GB of uncompressed NDJSON, same commit, one run each "
        "after a warm-up run (which makes the sandbox generate the archive). Temp disk = peak "
        "extra use of temp_dir's file system during the measured run (the spooled ZIP; the "
        "sandbox's own copy of the archive is outside it).", "", *lines, "",
        f"- ~5 GB rate ÷ ~200 MB rate = {rates[1] / rates[0]:.2f}",
        f"- conditions: {started}; load average at the end: "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}",
        *([f"- **measured on a busy machine** ({busy})"] if busy else [])])
    print(text)
    if writing:
        write_section("huge", "~5 GB of Braze users (`python benchmarks/bench.py "
                      f"{shlex.join(sys.argv[1:])}`)", text)
    return 0


def main() -> int:
    """Run everything, print the tables, write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", action="store_true", help="~1 GB per vendor instead of 200 MB")
    parser.add_argument("--huge", action="store_true",
                        help="~5 GB of Braze users (not run by CI): tap rate, peak RSS and the "
                             "temporary disk it used, next to the ~200 MB figure")
    parser.add_argument("--scale", type=float, help="size multiplier (1 = ~200 MB)")
    parser.add_argument("--only", default="batch,apsis,braze")
    parser.add_argument("--ready-after-seconds", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--allow-busy", action="store_true",
                        help="write BENCHMARKS.md even when the machine is busy at the start "
                             "(the section then says so)")
    parser.add_argument("--quick", action="store_true",
                        help="only the default-settings and BATCH rows per vendor (memory "
                             "checks) and the main end-to-end rows on a fifth of their data; "
                             "writes BENCHMARKS.md only with --big")
    parser.add_argument("--e2e", help="vendors for the end-to-end rows ('' for none; default "
                                      "batch,braze, none with --big)")
    parser.add_argument("--rounds", type=int,
                        help="times each end-to-end row is run, interleaved; the table shows "
                             "the median (default 3, 1 with --quick)")
    parser.add_argument("--pipelinewise", action="store_true",
                        help="add a pipelinewise-target-postgres row (installed on first use "
                             "into .venv-bench/)")
    args = parser.parse_args()
    # Installed packages normally have their bytecode cached; with PYTHONDONTWRITEBYTECODE set
    # (as in some CI and sandbox shells) every tap and loader start recompiles SQLAlchemy, the
    # SDK, … (~2-3 s of CPU per process here), which is not what users pay.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.huge:
        return huge(args)
    scale = args.scale or (5.0 if args.big else 1.0)
    rounds = args.rounds or (1 if args.quick else 3)
    e2e_vendors = args.e2e if args.e2e is not None else ("" if args.big else "batch,braze")
    started = conditions()
    writing = not args.no_write and (not args.quick or args.big)
    busy = busy_machine()
    if busy and writing and not args.allow_busy:
        print(f"bench: {busy}: figures would be low, so BENCHMARKS.md is not written. Wait "
              "for an idle machine, or pass --no-write (print only) or --allow-busy (write, "
              "marked busy).", file=sys.stderr)
        return 2
    rows: list[Row] = []
    for vendor in [v for v in args.only.split(",") if v]:
        print(f"… {vendor}", file=sys.stderr, flush=True)
        rows += vendor_rows(vendor, scale, args.quick)
    e2e: list[pipeline.E2ERow] = []
    for vendor in [v for v in e2e_vendors.split(",") if v]:
        print(f"… {vendor} end to end", file=sys.stderr, flush=True)
        size = E2E_SIZES[vendor] // (5 if args.quick else 1)
        e2e += pipeline.vendor_e2e_rows(vendor, size, ladder=not args.quick,
                                        pipelinewise=args.pipelinewise, rounds=rounds)
    if rows and not args.quick:
        print("… concurrent waiting", file=sys.stderr, flush=True)
        rows += concurrency_rows(args.ready_after_seconds)
    header = ["run", "records", "MB", "seconds", "records/s", "MB/s", "peak RSS MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    notes = []
    if not args.quick and rows:
        per_vendor = [r for r in rows[:-2] if "BATCH messages" not in r.name]
        for index in range(0, len(per_vendor), 4):
            tap, _, sdk, ceiling = per_vendor[index:index + 4]
            notes.append(f"- {tap.name.split(':')[0]}: tap / SDK defaults = "
                         f"{sdk.seconds / tap.seconds:.2f}x, tap / parse-only ceiling = "
                         f"{(tap.records / tap.seconds) / (ceiling.records / ceiling.seconds):.2f}")
        together, sequential = rows[-2], rows[-1]
        notes.append(f"- waiting together: {together.seconds:.1f}s vs one after another "
                     f"{sequential.seconds:.1f}s ({sequential.seconds / together.seconds:.1f}x "
                     f"faster; slowest single export is ready after "
                     f"{args.ready_after_seconds:.0f}s)")
    parts = []
    if rows:
        parts += [f"Tap alone, scale {scale:g} (1 = ~200 MB of uncompressed JSON per vendor). "
                  "MB = 10^6 bytes of uncompressed JSON; seconds = wall time of the whole CLI "
                  "process; peak RSS of the tap process itself.", "", *lines, "", *notes]
    if e2e:
        sizes = ", ".join(f"{v} {E2E_SIZES[v] // (5 if args.quick else 1):,} sandbox units"
                          for v in e2e_vendors.split(",") if v)
        parts += ["", "### End to end into PostgreSQL (embedded, started by the bench)", "",
                  f"A smaller data set than the tap rows ({sizes}; the loaders are 10-50x "
                  f"slower than the tap). Every row ran {rounds} time(s), in rounds (each round "
                  "runs every row once, each load into a fresh schema); seconds = median wall "
                  "time of the whole pipeline (tap start to target exit), with the fastest and "
                  "slowest run; rows/s = records emitted / median seconds; peak RSS = the "
                  "highest of the runs. Rows counted in PostgreSQL after each load. Tap and "
                  "target are joined by a pipe as `meltano run` joins them; "
                  "the target is meltano.yml's (`meltano install`).", "",
                  *pipeline.table(e2e), "", *pipeline.ratios(e2e)]
    parts += [*baseline_rows(), f"- conditions: {started}; load average at the end: "
              f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}"]
    if busy:
        parts.append(f"- **measured on a busy machine** ({busy}; `--allow-busy`): every "
                     "figure here is lower than an idle machine gives")
    text = "\n".join(parts)
    print(text)
    if writing:
        command = "python benchmarks/bench.py " + shlex.join(sys.argv[1:])
        if args.big:
            write_section("big", f"~1 GB per vendor: memory (`{command.strip()}`)", text)
        else:
            write_section("main", f"`make bench` (`{command.strip()}`)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
