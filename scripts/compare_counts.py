"""Compare RECORD counts of a tap output file with row counts in the demo warehouse.

    python scripts/compare_counts.py <tap output .jsonl> <schema>

Exit status 1 when a stream's row count differs from its distinct emitted records, or when
nothing was emitted at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"profiles": ("source", "profile_id"), "events": ("source", "event_id"),
        "reachability_events": ("event_id",), "braze_users": ("export_scope", "braze_id"),
        # The demo's second Braze workspace, exporting to its bucket (a stream map's alias).
        "braze_users_bucket": ("export_scope", "braze_id"),
        "apsis_sections": ("section_id",), "apsis_attributes": ("section_id", "attribute_id"),
        "apsis_tags": ("section_id", "tag_id"),
        "apsis_event_types": ("section_id", "event_type_id")}


def emitted(path: Path) -> tuple[Counter[str], Counter[str]]:
    """(records per stream, distinct primary keys per stream) of a Singer output file."""
    records: Counter[str] = Counter()
    keys: dict[str, set[tuple[object, ...]]] = {}
    with path.open("rb") as handle:
        for line in handle:
            if b'"RECORD"' not in line[:48]:   # any Singer writer's spacing
                continue
            message = orjson.loads(line)
            if message.get("type") != "RECORD":
                continue
            stream, record = message["stream"], message["record"]
            records[stream] += 1
            keys.setdefault(stream, set()).add(tuple(record.get(k) for k in KEYS[stream]))
    return records, Counter({s: len(k) for s, k in keys.items()})


def rows(schema: str, table: str) -> int:
    """Row count of one table (0 when it does not exist)."""
    sql = (f"select count(*) from {schema}.{table}" if table else "select 0")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "warehouse.py"), "psql", sql],
                            capture_output=True, text=True, check=False)
    for token in result.stdout.split():
        if token.isdigit():
            return int(token)
    return 0


def main(output: str, schema: str) -> int:
    """Print the comparison table; 0 when every count matches."""
    records, distinct = emitted(Path(output))
    ok = bool(records)
    print(f"{'stream':<22}{'records emitted':>17}{'rows in postgres':>18}")
    for stream in sorted(KEYS):
        landed = rows(schema, stream) if records[stream] else 0
        mark = "" if landed == distinct[stream] else "   <-- MISMATCH"
        if records[stream] != distinct[stream]:   # upserts collapse repeated primary keys
            mark += f"   ({records[stream] - distinct[stream]} repeated keys)"
        ok &= landed == distinct[stream]
        print(f"{stream:<22}{records[stream]:>17}{landed:>18}{mark}")
    print(json.dumps({"ok": ok, "records": sum(records.values())}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
