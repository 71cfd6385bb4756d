"""Warehouse checks after `meltano run tap-profile-export target-postgres` (used by
`scripts/demo.sh --warehouse-tests`, which CI runs).

    python scripts/warehouse_checks.py types <schema>
    python scripts/warehouse_checks.py unique <schema>
    python scripts/warehouse_checks.py arrays <schema>   # Braze's JSON-array columns only
    python scripts/warehouse_checks.py counts <schema>   # prints {"table": rows, ...}
    python scripts/warehouse_checks.py deleted <schema> [profiles:<source>/<profile_id> ...]
        [braze_users:<external_id> ...] [<table>:<key>/<key> ...]
        # exactly these rows soft-deleted (_sdc_deleted_at), e.g. apsis_tags:<section>/<tag>
    python scripts/warehouse_checks.py names <schema>    # scripts/apsis_names.sql joins them all

Exit status 1 with a message naming table and column on any failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"profiles": ("source", "profile_id"), "events": ("source", "event_id"),
        "reachability_events": ("event_id",), "braze_users": ("export_scope", "braze_id"),
        # The demo's second Braze workspace, exporting to its bucket (a stream map's alias).
        "braze_users_bucket": ("export_scope", "braze_id"),
        "apsis_sections": ("section_id",), "apsis_attributes": ("section_id", "attribute_id"),
        "apsis_tags": ("section_id", "tag_id"),
        "apsis_event_types": ("section_id", "event_type_id")}
#: The query the demo prints: APSIS ids joined to their definitions (schema profile_export).
NAMES_SQL = ROOT / "scripts" / "apsis_names.sql"
# column → expected PostgreSQL data_type (information_schema spelling, prefix match)
TYPES = {
    "profiles": {"exported_at": "timestamp", "attributes": "jsonb", "identifiers": "jsonb",
                 "sections": "jsonb", "tags": "ARRAY", "profile_id": "text"},
    "events": {"timestamp": "timestamp", "created_at": "timestamp", "data": "jsonb",
               "attributes": "jsonb", "event_id": "text"},
    "reachability_events": {"timestamp": "timestamp", "has_phone_number": "boolean",
                            "is_optin": "boolean", "reasons": "ARRAY"},
    "braze_users": {"created_at": "timestamp", "custom_attributes": "jsonb",
                    "total_revenue": "numeric", "random_bucket": "bigint"},
    "apsis_sections": {"section_id": "text", "name": "text", "extra": "jsonb"},
    "apsis_attributes": {"attribute_id": "text", "version_id": "text", "versions": "jsonb",
                         "extra": "jsonb"},
    "apsis_tags": {"tag_id": "text", "name": "text"},
    "apsis_event_types": {"event_type_id": "text", "fields": "jsonb", "versions": "jsonb"},
}
# columns that hold one JSON array per row (arrays of vendor objects: `jsonb`, not `jsonb[]`)
JSON_ARRAYS = {"braze_users": ("user_aliases", "custom_events", "devices", "last_coordinates"),
               "apsis_attributes": ("versions",), "apsis_event_types": ("fields", "versions")}


def sql(query: str) -> list[list[str]]:
    """Rows of a query (unaligned, tab-free output parsed from psql's default format)."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "warehouse.py"), "psql",
                             query], capture_output=True, text=True, check=True)
    lines = [line for line in result.stdout.splitlines()[2:] if line and not line.startswith("(")]
    return [[cell.strip() for cell in line.split("|")] for line in lines]


def column_types(schema: str, table: str) -> dict[str, str]:
    """Column name → data_type (information_schema spelling) of one table."""
    return dict(sql(f"select column_name, data_type from information_schema.columns "
                    f"where table_schema = '{schema}' and table_name = '{table}'"))


def check_types(schema: str) -> list[str]:
    """Problems with column types and primary keys."""
    problems = []
    for table, columns in TYPES.items():
        found = column_types(schema, table)
        for column, expected in columns.items():
            if not found.get(column, "").startswith(expected):
                problems.append(f"{schema}.{table}.{column}: type {found.get(column)!r}, "
                                f"expected {expected}")
        primary = [r[0] for r in sql(
            f"select kcu.column_name from information_schema.table_constraints tc join "
            f"information_schema.key_column_usage kcu on tc.constraint_name = "
            f"kcu.constraint_name and tc.table_schema = kcu.table_schema where "
            f"tc.table_schema = '{schema}' and tc.table_name = '{table}' and "
            f"tc.constraint_type = 'PRIMARY KEY' order by kcu.ordinal_position")]
        if sorted(primary) != sorted(KEYS[table]):
            problems.append(f"{schema}.{table}: primary key {primary}, expected "
                            f"{list(KEYS[table])}")
    return problems + check_json_arrays(schema)


def check_json_arrays(schema: str, tables: tuple[str, ...] = tuple(JSON_ARRAYS)) -> list[str]:
    """Problems: a JSON-array column that is not `jsonb`, is empty, or holds anything else."""
    problems = []
    for table in tables:
        columns = JSON_ARRAYS[table]
        found = column_types(schema, table)
        for column in columns:
            if found.get(column) != "jsonb":
                problems.append(f"{schema}.{table}.{column}: type {found.get(column)!r}, "
                                f"expected jsonb")
                continue
            [[filled, other]] = sql(
                f"select count({column}), count(*) filter (where jsonb_typeof({column}) "
                f"<> 'array') from {schema}.{table}")
            if int(filled) == 0 or int(other):
                problems.append(f"{schema}.{table}.{column}: {filled} values, {other} of them "
                                f"not a JSON array")
    return problems


def tables(schema: str) -> dict[str, tuple[str, ...]]:
    """The tables of `KEYS` that `schema` holds, with their keys (a one-vendor run's schema
    has no `braze_users_bucket`)."""
    present = {row[0] for row in sql(
        f"select table_name from information_schema.tables where table_schema = '{schema}'")}
    return {table: key for table, key in KEYS.items() if table in present}


def counts(schema: str) -> dict[str, int]:
    """Row count per table."""
    return {table: int(sql(f"select count(*) from {schema}.{table}")[0][0])
            for table in tables(schema)}


def check_unique(schema: str) -> list[str]:
    """Problems: duplicated primary keys."""
    problems = []
    for table, key in tables(schema).items():
        [[total, distinct]] = sql(f"select count(*), count(distinct ({', '.join(key)})) "
                                  f"from {schema}.{table}")
        if total != distinct:
            problems.append(f"{schema}.{table}: {int(total) - int(distinct)} duplicate rows")
    return problems


def check_deleted(schema: str, expected: list[str]) -> list[str]:
    """Problems: rows soft-deleted (`_sdc_deleted_at` set by ACTIVATE_VERSION) other than
    exactly the expected ones. `<table>:<key>/<key>…` is one row by primary key (e.g.
    `profiles:<source>/<profile_id>`); `braze_users:<external_id>` is that user's row in every
    export scope that held it."""
    problems = []
    for table, key in tables(schema).items():
        found = {tuple(row) for row in sql(
            f"select {', '.join(key)} from {schema}.{table} where _sdc_deleted_at is not null")}
        wanted: set[tuple[str, ...]] = set()
        for item in expected:
            name, _, value = item.partition(":")
            if name == table != "braze_users":
                wanted.add(tuple(value.split("/", len(key) - 1)))
            elif name == table == "braze_users":
                rows = {tuple(r) for r in sql(f"select {', '.join(key)} from {schema}.{table} "
                                              f"where external_id = '{value}'")}
                if not rows:
                    problems.append(f"{schema}.{table}: no row of external_id {value}")
                wanted |= rows
        if found != wanted:
            problems.append(f"{schema}.{table}: soft-deleted rows {sorted(found)}, expected "
                            f"{sorted(wanted)}")
    return problems


def check_names(schema: str) -> list[str]:
    """Problems: scripts/apsis_names.sql finds no row, leaves an APSIS event out, or a
    profile's attribute id (or an event's type id) has no definition to name it."""
    query = NAMES_SQL.read_text().replace("profile_export.", f"{schema}.")
    rows = sql(query)
    problems = [] if rows else [f"{schema}: {NAMES_SQL.name} returned no row"]
    [[events]] = sql(f"select count(*) from {schema}.events where source = 'apsis'")
    if sum(int(row[2]) for row in rows) != int(events):
        problems.append(f"{schema}: {NAMES_SQL.name} counts "
                        f"{sum(int(row[2]) for row in rows)} APSIS events, the table has {events}")
    if any('"Email"' not in row[4] for row in rows):
        problems.append(f"{schema}: a row of {NAMES_SQL.name} has no attribute named Email")
    [[unnamed]] = sql(
        f"select count(*) from {schema}.profiles p, jsonb_each(p.sections) s, "
        f"jsonb_object_keys(s.value -> 'attributes') k(attribute_id) where p.source = 'apsis' "
        f"and not exists (select 1 from {schema}.apsis_attributes a where a.section_id = "
        f"s.key and a.attribute_id = k.attribute_id)")
    [[untyped]] = sql(
        f"select count(*) from {schema}.events e where e.source = 'apsis' and not exists "
        f"(select 1 from {schema}.apsis_event_types t where t.section_id = e.section_id and "
        f"t.event_type_id = e.name)")
    problems += [f"{schema}: {n} {what} without a definition" for n, what in
                 ((unnamed, "APSIS profile attribute values"), (untyped, "APSIS events"))
                 if int(n)]
    return problems


def main(command: str, schema: str, *args: str) -> int:
    """Run one check."""
    if command == "counts":
        print(json.dumps(counts(schema)))
        return 0
    if command == "deleted":
        problems = check_deleted(schema, list(args))
    else:
        checks: dict[str, Callable[[str], list[str]]] = {
            "types": check_types, "unique": check_unique, "names": check_names,
            "arrays": lambda name: check_json_arrays(name, ("braze_users",))}
        problems = checks[command](schema)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print(f"ok: {command} ({schema})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
