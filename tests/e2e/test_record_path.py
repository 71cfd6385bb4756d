"""The direct record path (`recordpath.FastRecordPath`) against the SDK's, and every guarantee
of the record path end to end through the CLI: stream maps, property selection, flattening,
type conformance, `time_extracted`.

The comparison runs each stream of a tap in process twice on the same records, those its
`get_records` gave for the sandbox's exports of every vendor (Batch events, reachability
events and profiles, APSIS profiles and events, Braze users), plus copies with values of the
wrong type, unknown columns, values no JSON parser gives, and missing partition keys: once
on the direct path, once on the SDK's (`_generate_record_messages` + `RecordMessage` + the
msgspec writer). Every message must carry the same content, in the same order.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import MaxRecordsLimitException
from singer_sdk.helpers._flattening import flatten_schema

from sandbox import Sandbox
from tap_profile_export import schemas
from tap_profile_export.recordpath import blockers
from tap_profile_export.snapshots import partition_key
from tap_profile_export.streams import ExportStream
from tap_profile_export.tap import TapProfileExport
from tap_profile_export.windows import to_rfc3339
from tests.unit.test_conform import sdk_root_only

from .conftest import TapRun, run_tap

STREAMS = ("events", "reachability_events", "profiles", "braze_users")
#: Values of the wrong type per JSON-schema type of a column (what a vendor might send).
MISTYPED = {"boolean": [1, 0, "yes", "", 2.5, {"a": 1}, [0]],
            "string": [123, 4.5, True, {"x": 1}, ["a"]],
            "number": ["12.50", True, 7],
            "integer": ["7", 7.0, False],
            "object": ["not an object", [1, 2], 3],
            "array": ["x", {"a": 1}, 2]}
#: Values no JSON parser gives (the SDK conforms them at the top level, msgspec encodes them
#: below): orjson refuses them, so their records take the SDK's own encoding.
NOT_JSON = [datetime.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC),
            datetime.date(1990, 1, 2), decimal.Decimal("12.5"), b"\x00\x01", 2**70,
            {1: "int key"}, float("nan"), float("inf")]


@contextmanager
def captured_stdout() -> Iterator[bytearray]:
    """What the tap writes to `sys.stdout.buffer` (in the bytearray, once done)."""
    raw, written = io.BytesIO(), bytearray()
    saved, sys.stdout = sys.stdout, io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    try:
        yield written
    finally:
        sys.stdout.flush()
        written += raw.getvalue()
        sys.stdout = saved


def sandbox_config(sb: Sandbox, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = sb.tap_config()
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=10))
    config["end_date"] = to_rfc3339(sb.anchor)
    config["temp_dir"] = str(tmp_path)
    return {**config, **extra}


def source_records(config: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per stream and partition: the records `get_records` yields (before any record path)."""
    tap = TapProfileExport(config=config)
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with captured_stdout():
        for name in STREAMS:
            stream = tap.streams[name]
            assert isinstance(stream, ExportStream)
            found[name] = {partition_key(context): list(stream.get_records(context))
                           for context in stream.partitions or []}
    return found


def column_types(schema: dict[str, Any], name: str) -> list[str]:
    return [t for t in schema["properties"][name]["type"] if t != "null"]


def with_odd_values(stream: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records`, then copies of some with each column set to each wrong-typed value, with
    unknown columns, with values no JSON parser gives, without their partition key."""
    schema = {"events": schemas.EVENTS, "reachability_events": schemas.REACHABILITY_EVENTS,
              "profiles": schemas.PROFILES, "braze_users": schemas.BRAZE_USERS}[stream]
    odd = [copy.deepcopy(r) for r in records]
    base = records[: max(1, len(records) // 20)]
    for n, record in enumerate(base):
        for column in schema["properties"]:
            for kind in column_types(schema, column):
                for value in MISTYPED[kind]:
                    odd.append({**copy.deepcopy(record), column: value})
        odd.append({**copy.deepcopy(record), "unexpected_column": {"a": [1, 2.5, None]}})
        value = NOT_JSON[n % len(NOT_JSON)]
        column = list(schema["properties"])[n % len(schema["properties"])]
        odd.append({**copy.deepcopy(record), column: value, "nested": {"deep": [value]}})
        odd.append({k: v for k, v in copy.deepcopy(record).items()
                    if k not in ("source", "export_scope")})
    return odd


def emitted(config: dict[str, Any], stream_name: str, records: dict[str, list[dict[str, Any]]],
            *, direct: bool, catalog: dict[str, Any] | None = None,
            state_every: int | None = None, limit: int | None = None
            ) -> tuple[list[dict[str, Any]], ExportStream, BaseException | None]:
    """The messages one stream's sync writes, on the direct path or the SDK's."""
    tap = TapProfileExport(config=config, catalog=catalog)
    stream = tap.streams[stream_name]
    assert isinstance(stream, ExportStream)
    def get_records(context: Any) -> Iterator[dict[str, Any]]:
        state = stream.get_context_state(context)
        for n, record in enumerate(copy.deepcopy(records[partition_key(context or {})])):
            state["records_read"] = n  # state that moves record by record: STATE messages
            yield record               # then show where each path writes them

    stream.get_records = get_records  # type: ignore[method-assign]
    if state_every:
        stream.STATE_MSG_FREQUENCY = state_every
    stream.ABORT_AT_RECORD_COUNT = limit
    if direct:
        assert stream._fast_record_path is not None
    else:
        stream.__dict__["_fast_record_path"] = None  # the SDK's record path
    error = None
    with captured_stdout() as out:
        try:
            stream.sync()
        except Exception as exc:  # compared between the paths
            error = exc
        tap.message_writer.flush()  # type: ignore[attr-defined]
    return [json.loads(line) for line in out.splitlines()], stream, error


def normalised(messages: list[dict[str, Any]], stream: ExportStream, started: datetime.datetime,
               ended: datetime.datetime) -> list[str]:
    """Messages as comparable text: `time_extracted` checked to be within the run and
    dropped, the table version checked to be the stream's and dropped, signposts dropped."""
    out = []
    for message in messages:
        message = copy.deepcopy(message)
        if message["type"] == "RECORD":
            extracted = datetime.datetime.fromisoformat(message.pop("time_extracted"))
            assert started - timedelta(seconds=1) <= extracted <= ended
            assert message.pop("version", None) == stream._stream_version
        elif message["type"] == "STATE":
            for bookmark in message["value"].get("bookmarks", {}).values():
                bookmark.pop("replication_key_signpost", None)
        out.append(repr(message))  # repr: 1, 1.0 and True differ; key order counts
    return out


@pytest.fixture(scope="module")
def real_records(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, list[dict]]]]]:
    """The sandbox's exports of every vendor, read once for the module's comparisons."""
    tmp_path = tmp_path_factory.mktemp("record-path")
    with Sandbox(seed=23) as sb:
        config = sandbox_config(sb, tmp_path, activate_version="configured_sources")
        records = source_records(config)
        yield config, records


def test_source_records_cover_every_vendor(real_records: tuple[dict, dict]) -> None:
    _, records = real_records
    assert set(records["events"]) == {"source=apsis", "source=batch"}
    assert set(records["profiles"]) == {"source=apsis", "source=batch"}
    assert set(records["reachability_events"]) == {"source=batch"}
    assert records["braze_users"] and all(records["braze_users"].values())
    assert all(all(partition.values()) for partition in records.values())


@pytest.mark.parametrize("stream_name", STREAMS)
@pytest.mark.parametrize("state_every", [10_000, 7])
def test_direct_path_writes_what_the_sdk_path_writes(real_records: tuple[dict, dict],
                                                     stream_name: str, state_every: int) -> None:
    config, records = real_records
    odd = {key: with_odd_values(stream_name, rows)
           for key, rows in records[stream_name].items()}
    started = datetime.datetime.now(datetime.UTC)
    direct, direct_stream, direct_error = emitted(config, stream_name, odd, direct=True,
                                                  state_every=state_every)
    sdk, sdk_stream, sdk_error = emitted(config, stream_name, odd, direct=False,
                                         state_every=state_every)
    ended = datetime.datetime.now(datetime.UTC)
    assert direct_error is None and sdk_error is None
    assert sum(m["type"] == "RECORD" for m in direct) == sum(map(len, odd.values()))
    assert normalised(direct, direct_stream, started, ended) == \
        normalised(sdk, sdk_stream, started, ended)


def test_direct_path_with_a_catalog_deselecting_columns(real_records: tuple[dict, dict]
                                                        ) -> None:
    config, records = real_records
    tap = TapProfileExport(config=config)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] in (["properties", "identifiers"],
                                      ["properties", "custom_attributes"]):
                meta["metadata"]["selected"] = False
    for name in ("events", "braze_users"):
        started = datetime.datetime.now(datetime.UTC)
        direct, direct_stream, _ = emitted(config, name, records[name], direct=True,
                                           catalog=catalog)
        sdk, sdk_stream, _ = emitted(config, name, records[name], direct=False,
                                     catalog=catalog)
        ended = datetime.datetime.now(datetime.UTC)
        rows = [m["record"] for m in direct if m["type"] == "RECORD"]
        assert rows and not any("identifiers" in r or "custom_attributes" in r for r in rows)
        assert normalised(direct, direct_stream, started, ended) == \
            normalised(sdk, sdk_stream, started, ended)


def test_record_limit_stops_both_paths_alike(real_records: tuple[dict, dict]) -> None:
    config, records = real_records
    direct, _, direct_error = emitted(config, "events", records["events"], direct=True,
                                      limit=5)
    sdk, _, sdk_error = emitted(config, "events", records["events"], direct=False, limit=5)
    assert type(direct_error) is type(sdk_error) and sdk_error is not None
    assert isinstance(sdk_error.__cause__, MaxRecordsLimitException)
    assert [m["type"] for m in direct] == [m["type"] for m in sdk]
    assert sum(m["type"] == "RECORD" for m in direct) == 5


def test_sdk_path_is_taken_when_something_needs_it(sandbox: Sandbox, tmp_path: Path) -> None:
    plain = TapProfileExport(config=sandbox_config(sandbox, tmp_path))
    assert all(plain.streams[name]._fast_record_path is not None  # type: ignore[attr-defined]
               for name in STREAMS)
    cases = {"stream maps": {"stream_maps": {"events": {"__alias__": "e"}}},
             "flattening": {"flattening_enabled": True, "flattening_max_depth": 1},
             "type conformance recursive": {"type_conformance": "recursive"}}
    for reason, extra in cases.items():
        tap = TapProfileExport(config=sandbox_config(sandbox, tmp_path, **extra))
        stream = tap.streams["events"]
        assert stream._fast_record_path is None, reason  # type: ignore[attr-defined]
        assert reason in blockers(stream, ExportStream)


# -- end to end through the CLI ------------------------------------------------------------

def batch_config(sb: Sandbox, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = {k: v for k, v in sandbox_config(sb, tmp_path).items()
              if k not in ("apsis", "braze")}
    return {**config, **extra}


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def without_run_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A profile without what differs from one run to the next (the export's time)."""
    return {k: v for k, v in record.items() if k != "exported_at"}


def test_stream_maps_rename_filter_and_alias(sandbox: Sandbox, tmp_path: Path) -> None:
    plain = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path)))
    maps = {"events": {"__filter__": "name == 'e.purchase'", "event_name": "name",
                       "name": "__NULL__"},
            "reachability_events": {"__alias__": "batch_reachability"}}
    mapped = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path, stream_maps=maps)))
    events = plain.records("events")
    purchases = [r for r in events if r["name"] == "e.purchase"]
    assert 0 < len(purchases) < len(events)
    expected = [{**{k: v for k, v in r.items() if k != "name"}, "event_name": "e.purchase"}
                for r in purchases]
    assert mapped.records("events") == expected
    assert mapped.records("reachability_events") == []
    assert mapped.records("batch_reachability") == plain.records("reachability_events")
    assert [without_run_fields(r) for r in mapped.records("profiles")] == \
        [without_run_fields(r) for r in plain.records("profiles")]  # no map: direct path


def test_catalog_deselects_top_level_and_nested_properties(sandbox: Sandbox,
                                                           tmp_path: Path) -> None:
    config = batch_config(sandbox, tmp_path)
    plain = ok(run_tap(tmp_path, config))
    tap = TapProfileExport(config=config)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "events":
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == ["properties", "extra"]:
                    meta["metadata"]["selected"] = False
        if entry["tap_stream_id"] == "profiles":  # below the top level: the SDK's path
            entry["metadata"].append({"breadcrumb": ["properties", "identifiers",
                                                     "properties", "custom_id"],
                                      "metadata": {"selected": False}})
    run = ok(run_tap(tmp_path, config, catalog=catalog))
    assert run.records("events") == [{k: v for k, v in r.items() if k != "extra"}
                                     for r in plain.records("events")]
    profiles = run.records("profiles")
    assert profiles and all("custom_id" not in p["identifiers"] and p["identifiers"]
                            ["profile_id"] and "custom_id" in p for p in profiles)
    assert any(p["identifiers"].get("custom_id") for p in plain.records("profiles"))
    assert run.records("reachability_events") == plain.records("reachability_events")


def test_flattening(sandbox: Sandbox, tmp_path: Path) -> None:
    plain = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path)))
    flat = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path, flattening_enabled=True,
                                             flattening_max_depth=1)))
    events = flat.records("events")
    assert len(events) == len(plain.records("events"))
    for record, original in zip(events, plain.records("events"), strict=True):
        assert "identifiers" not in record and "attributes" not in record
        assert record["identifiers__custom_id"] == original["identifiers"]["custom_id"]
        assert record["attributes__amount"] == original["attributes"]["amount"]
    [schema] = [m["schema"] for m in flat.messages
                if m["type"] == "SCHEMA" and m["stream"] == "events"]
    assert schema == flatten_schema(schemas.EVENTS, max_level=1)  # the SDK's flattened schema


def mistype(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch lines with values of the wrong type for their column: booleans as numbers and
    text, a number for a string, text for a string-typed id."""
    original = sb.batch_sim.event_lines

    def event_lines(kind: str, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for n, line in enumerate(original(kind, *args, **kwargs)):
            event = line["event"]
            if kind == "REACHABILITY":
                event.update(has_phone_number=n % 2, is_optin=("yes", "", 2.5, None)[n % 4],
                             platform=n)
            elif n % 3 == 0:
                event["name"] = n
                line["identifiers"]["custom_id"] = n * 1.5
            yield line

    monkeypatch.setattr(sb.batch_sim, "event_lines", event_lines)


@pytest.mark.parametrize("level", ["root_only", "recursive"])
def test_type_conformance_of_mistyped_values(sandbox: Sandbox, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             level: str) -> None:
    """What the SDK's root-level conformance makes of each value, through the CLI (the
    default `root_only` on the direct path; `recursive` on the SDK's)."""
    mistype(sandbox, monkeypatch)
    run = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path, type_conformance=level)))
    reach = run.records("reachability_events")
    assert reach
    for n, record in enumerate(reach):
        assert record["has_phone_number"] is bool(n % 2)
        # The SDK's rule is `value != 0`: any text is true, even empty; a float stays a float.
        assert record["is_optin"] == (True, True, 2.5, None)[n % 4]
        assert type(record["is_optin"]) is (bool, bool, float, type(None))[n % 4]
        assert record["platform"] == n  # a number for a string column: left as it is
    events = run.records("events")
    assert any(type(e["name"]) is int for e in events)
    assert any(type(e["custom_id"]) is float for e in events)
    for record in reach + events:
        schema = schemas.REACHABILITY_EVENTS if "channel" in record else schemas.EVENTS
        assert repr(record) == repr(sdk_root_only(schema, record))


def test_time_extracted_is_the_time_each_record_was_read(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    sandbox.batch.events = 9000
    started = datetime.datetime.now(datetime.UTC)
    run = ok(run_tap(tmp_path, batch_config(sandbox, tmp_path)))
    ended = datetime.datetime.now(datetime.UTC)
    stamps = [datetime.datetime.fromisoformat(m["time_extracted"]) for m in run.messages
              if m["type"] == "RECORD"]
    assert len(stamps) > 2000
    assert all(s.tzinfo is not None for s in stamps)
    assert started <= stamps[0] and stamps[-1] <= ended
    assert stamps == sorted(stamps)
