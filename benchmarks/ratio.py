"""Tap ÷ parse-only on one sandbox export, measured three ways (issue 24, item 1).

    python benchmarks/ratio.py batch|braze|apsis [--scale 1] [--rounds 3] [--callgrind]
                               [--tap 'COMMAND …'] …

The same export as `bench.py` (`configure`, seed 99): a warm-up run generates it, then each
round times parse-only (`bench.parse_only`: decompress + parse the files, in this process) and
each tap (`--config` appended; default the installed CLI; `--tap` again to compare builds,
e.g. `PYTHONPATH=<checkout> …`). Per tap and round it prints the wall-time ratio (what
`bench.py` reports), the CPU-time ratio (user + system of the tap process vs this process
while parsing), and with `--callgrind` the instruction-count ratio under valgrind, which does
not move with the machine's load (slow: minutes per run). Wall and CPU ratios on a busy
machine are low and noisy; the load average is printed with every line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402  (benchmarks/bench.py, next to this file)

from sandbox import Sandbox  # noqa: E402

CALLGRIND = ["valgrind", "--tool=callgrind", "--trace-children=yes",
             "--callgrind-out-file=/dev/null"]
PARSE_SCRIPT = ("import sys; from pathlib import Path; sys.path[:0] = sys.argv[3:5]; "
                "import bench; bench.parse_only(sys.argv[1], Path(sys.argv[2])) "
                "if sys.argv[5] == '1' else None")


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def instructions(command: list[str]) -> int:
    """Instructions callgrind counts for `command` (children followed)."""
    proc = subprocess.run([*CALLGRIND, *command], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    counts = re.findall(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not counts:
        raise SystemExit(f"callgrind run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return int(counts[-1])


def parse_instructions(vendor: str, cache: Path) -> int:
    """Instructions of parse-only itself: the script with the parse minus without it."""
    base = [sys.executable, "-c", PARSE_SCRIPT, vendor, str(cache), str(ROOT),
            str(ROOT / "benchmarks")]
    return instructions([*base, "1"]) - instructions([*base, "0"])


def tap_run(command: list[str], config: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one tap run, stdout to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as out:
        proc = subprocess.Popen([*command, "--config", str(config)], stdout=out,
                                stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"{shlex.join(command)} failed (status {status})")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vendor", choices=sorted(bench.SIZES))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tap", action="append", help="a tap command (repeatable)")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions under valgrind (once per tap)")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench.py: users have bytecode
    taps = [shlex.split(t) for t in args.tap or [bench.TAP]]
    with Sandbox(seed=99, real_time=True) as sb, tempfile.TemporaryDirectory() as tmp:
        config = bench.configure(sb, args.vendor, args.scale)
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        bench.run_tap({**config, "type_conformance": "none"}, {})  # generates the export
        print(f"{args.vendor}, scale {args.scale:g}; load at the start {load()}", flush=True)
        for round_ in range(1, args.rounds + 1):
            cpu_started = time.process_time()
            seconds, records, _ = bench.parse_only(args.vendor, sb.cache_dir)
            cpu = time.process_time() - cpu_started
            print(f"round {round_}: parse-only {records:,} records, {seconds:.2f} s wall, "
                  f"{cpu:.2f} s CPU ({records / seconds:,.0f} records/s)", flush=True)
            for tap in taps:
                wall, tap_cpu = tap_run(tap, path)
                print(f"  {shlex.join(tap)}: {wall:.2f} s wall, {tap_cpu:.2f} s CPU; ratio "
                      f"wall {seconds / wall:.3f}, CPU {cpu / tap_cpu:.3f} (load {load()})",
                      flush=True)
        if args.callgrind:
            parse = parse_instructions(args.vendor, sb.cache_dir)
            print(f"callgrind: parse-only {parse / 1e9:.2f} G instructions", flush=True)
            for tap in taps:
                count = instructions([*tap, "--config", str(path)])
                print(f"  {shlex.join(tap)}: {count / 1e9:.2f} G instructions; ratio "
                      f"{parse / count:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
