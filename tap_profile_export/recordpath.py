"""The record path for the common case: RECORD lines encoded straight from the records.

For each record the SDK builds a `RecordMessage` (a dataclass, `utc_now()`, a time-zone
conversion), passes it through its identity stream map, the writer turns it into a dict and
encodes that; around it `_sync_records` runs per record a limit check, `post_process`, the
partition-key copy, child contexts, the state increment, the STATE frequency test and the
metrics counter. For a stream with none of what that machinery is for — no stream map but
the SDK's identity `SameRecordTransform`, no flattening, nothing deselected below the top
level, root-only (or no) type conformance, RECORD messages (not BATCH), no child streams,
no record limit — `FastRecordPath` gives the same RECORD lines and STATE messages with the
per-record work reduced to what can change a line:

- the partition keys copied into a record lacking them, deselected top-level properties
  popped (the catalog's selection, resolved once);
- root-only conformance where it can change a value: `RootCheck` (properties typed only
  boolean; unknown keys when the schema has no `additionalProperties`). What else the SDK's
  root-only level changes is a non-finite float (to null: orjson writes null too) or a value
  that is not JSON-native (a datetime, bytes, a Decimal: orjson refuses it, see below);
- the line: a pre-encoded `{"type":"RECORD","stream":…,"record":` + `orjson.dumps(record)` +
  `,"version":…,"time_extracted":…}` appended to the writer's buffer. orjson writes what
  msgspec writes for JSON-native values (floats with an exponent as `1e+16`, not `1e16`: the
  same number). Whatever orjson will not encode natively (non-str keys, ints beyond 64 bits,
  datetimes, str/int/dict/list subclasses, Decimal, bytes) makes that record take the SDK's
  own way: `RootConformer` and the SDK's msgspec encoder;
- `time_extracted`: the clock is read per record and the suffix re-encoded when it moved a
  second on, so every record carries a time at most one second before it was written.

`blockers` names why a stream needs the SDK's path; the stream then takes it (see
`ExportStream._sync_records`). Equivalence with the SDK's path is tested on real records of
every vendor (tests/e2e/test_record_path.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import orjson
from singer_sdk.contrib.msgspec import encoder as msgspec_encoder
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams.core import Stream

from tap_profile_export.conform import RootConformer
from tap_profile_export.sdk_private import _is_exclusive_boolean_type
from tap_profile_export.writer import FLUSH_BYTES, BufferedMsgSpecWriter

if TYPE_CHECKING:
    from singer_sdk.singerlib import SelectionMask

#: orjson calls `default` (which refuses) for these instead of encoding them its own way.
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
                   | orjson.OPT_PASSTHROUGH_DATACLASS)
#: Records between two updates of the metrics counter (its gcd with STATE_MSG_FREQUENCY is
#: used, so STATE messages stay where the SDK puts them).
COUNTER_EVERY = 1000


def _refuse(value: object) -> Any:
    raise TypeError(type(value).__name__)


def deselected_top_level(mask: SelectionMask) -> tuple[str, ...]:
    """Top-level properties the catalog deselects."""
    return tuple(crumb[1] for crumb, selected in mask.items()
                 if len(crumb) == 2 and crumb[0] == "properties" and not selected)


def deselects_nested(mask: SelectionMask) -> bool:
    """Whether the catalog deselects a property below the top level (the SDK's recursive
    `pop_deselected_record_properties` is needed then)."""
    return any(len(crumb) > 2 and not selected for crumb, selected in mask.items())


def blockers(stream: Stream, base: type[Stream]) -> list[str]:
    """Why `stream` needs the SDK's record path (empty: `FastRecordPath` gives the same
    output). `base`: the stream class whose record path this replaces (`ExportStream`): a
    subclass overriding any part of it takes the SDK's path."""
    found = []
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        found.append("stream maps")
    elif maps[0].flattening_enabled:
        found.append("flattening")
    if stream.TYPE_CONFORMANCE_LEVEL not in (TypeConformanceLevel.ROOT_ONLY,
                                             TypeConformanceLevel.NONE):
        found.append(f"type conformance {stream.TYPE_CONFORMANCE_LEVEL.name.lower()}")
    if deselects_nested(stream.mask):
        found.append("nested properties deselected")
    if not isinstance(stream._tap.message_writer, BufferedMsgSpecWriter):
        found.append(f"writer {type(stream._tap.message_writer).__name__}")
    if stream.child_streams:
        found.append("child streams")
    if not stream.selected:
        found.append("not selected")
    cls = type(stream)
    owners: tuple[tuple[str, object], ...] = (
        ("post_process", Stream), ("_process_record", Stream), ("get_child_context", Stream),
        ("generate_child_contexts", Stream), ("_write_record_message", Stream),
        ("_generate_record_messages", base), ("_increment_stream_state", base))
    for name, owner in owners:
        if getattr(cls, name) is not getattr(owner, name):
            found.append(f"{name} overridden")
    return found


class RootCheck:
    """The part of root-only conformance that can change a value parsed from JSON: values of
    properties typed only boolean that are not booleans (an int, a string, an object, …:
    the SDK makes them `value != 0`), and unknown keys when the schema has no
    `additionalProperties`. A record that fails the check is conformed by `RootConformer`."""

    def __init__(self, schema: dict[str, Any]) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        self.booleans = tuple(name for name, prop in properties.items()
                              if _is_exclusive_boolean_type(prop))
        self.known = None if schema.get("additionalProperties") else frozenset(properties)
        self.conform = RootConformer(schema)

    @property
    def needed(self) -> bool:
        """Whether any record can fail the check (no: skip it)."""
        return bool(self.booleans) or self.known is not None

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record`, conformed when the check says it may need it."""
        for name in self.booleans:
            value = record.get(name)
            if value is not None and value.__class__ is not bool and \
                    value.__class__ is not float:
                return self.conform(record)
        if self.known is not None and not record.keys() <= self.known:
            return self.conform(record)
        return record


class RecordLines:
    """RECORD lines of one stream alias: a pre-encoded prefix, the record, and a suffix with
    the version and a `time_extracted` renewed once a second."""

    def __init__(self, alias: str, version: int | None,
                 clock: Callable[[], float] = time.time) -> None:
        encode = msgspec_encoder.encode
        self.prefix = b'{"type":"RECORD","stream":' + encode(alias) + b',"record":'
        self._version = b"" if version is None else b',"version":' + encode(version)
        self.clock = clock
        self.suffix = b""
        self.renew_at = float("-inf")

    def renew(self, now: float) -> bytes:
        """The suffix for records written from `now` on (for one second)."""
        extracted = datetime.fromtimestamp(now, timezone.utc)
        self.suffix = (self._version + b',"time_extracted":'
                       + msgspec_encoder.encode(extracted) + b"}\n")
        self.renew_at = now + 1.0
        return self.suffix


class FastRecordPath:
    """The SDK's `Stream._sync_records` for a stream `blockers` finds nothing for, writing
    RECORD lines itself (see the module docstring)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        writer = stream._tap.message_writer
        assert isinstance(writer, BufferedMsgSpecWriter)
        self.writer = writer
        self.deselected = deselected_top_level(stream.mask)
        level = stream.TYPE_CONFORMANCE_LEVEL
        check = RootCheck(stream.effective_schema)
        self.check = check if level == TypeConformanceLevel.ROOT_ONLY and check.needed \
            else None
        # What the SDK path does with a record orjson will not encode.
        self.conform = check.conform if level == TypeConformanceLevel.ROOT_ONLY else None
        self.lines = RecordLines(stream.stream_maps[0].stream_alias, stream._stream_version)

    def fallback(self, record: dict[str, Any]) -> bytes:
        """The record's JSON as the SDK path encodes it."""
        if self.conform is not None:
            record = self.conform(record)
        return msgspec_encoder.encode(record)

    def sync_records(self, context: dict[str, Any] | None) -> None:
        """`Stream._sync_records(context)` of SDK 0.54.9 with RECORD messages written, run
        to its end. It yields no records: `Stream.sync`, the only reader of
        `_sync_records` when messages are written, discards them."""
        stream = self.stream
        record_counter = stream.get_record_counter()
        timer = stream.get_sync_timer()
        contexts: Iterable[Any] | None = [context] if context is not None \
            else stream.partitions
        index = 0
        with record_counter, timer:
            for element in contexts or [{}]:
                record_counter.with_context(element)
                timer.with_context(element)
                current = element or None
                partition = stream._get_state_partition_context(current)
                stream._write_starting_replication_value(current)
                index = self._write_records(current, partition, index, record_counter)
                if current == partition:
                    stream._finalize_state(stream.get_context_state(current))
        if not context:
            stream._finalize_state(stream.stream_state)
        stream._write_state_message()

    def _write_records(self, context: Any, partition: Any, index: int,
                       record_counter: Any) -> int:
        """Write the partition's records; `index`: records of this sync before them. The
        SDK's per-record bookkeeping is done every `COUNTER_EVERY` records (and at the end):
        the counter, `is_flushed` and STATE every `STATE_MSG_FREQUENCY` records, as the SDK
        places them."""
        stream, lines, writer = self.stream, self.lines, self.writer
        # The partition's keys a record lacks are copied in (`Stream._process_record`); the
        # usual partition has one key, tested without a loop.
        fill = tuple((partition or {}).items())
        key, value = fill[0] if len(fill) == 1 else (None, None)
        more = fill if len(fill) > 1 else ()
        deselected, check, fallback = self.deselected, self.check, self.fallback
        prefix, clock = lines.prefix, lines.clock
        suffix, renew_at = lines.suffix, lines.renew_at
        pending, flush = writer.pending, writer.flush
        dumps, options = orjson.dumps, _ORJSON_OPTIONS
        state_every = stream.STATE_MSG_FREQUENCY
        every = math.gcd(COUNTER_EVERY, state_every)
        until = every - index % every  # records to the next bookkeeping point
        limit = stream.ABORT_AT_RECORD_COUNT
        stop_at = float("inf") if limit is None else limit
        counted = index
        # Records only: the (record, child context) tuples the SDK deprecated are not yielded
        # by these streams (and child streams take the SDK's path).
        records = cast("Iterable[dict[str, Any]]", stream.get_records(context))
        try:
            for record in records:
                if index >= stop_at:  # the SDK's abort writes a STATE if records are pending
                    if index > counted:
                        record_counter.increment(index - counted)
                        counted = index
                        stream.state_manager.is_flushed = False
                    stream._check_max_record_limit(current_record_index=index)
                if key is not None and key not in record:
                    record[key] = value
                for extra_key, extra_value in more:
                    if extra_key not in record:
                        record[extra_key] = extra_value
                if deselected:
                    for name in deselected:
                        record.pop(name, None)
                if check is not None:
                    record = check(record)
                now = clock()
                if now >= renew_at:
                    suffix, renew_at = lines.renew(now), lines.renew_at
                pending += prefix
                try:
                    pending += dumps(record, _refuse, options)
                except TypeError:
                    pending += fallback(record)
                pending += suffix
                if len(pending) >= FLUSH_BYTES:
                    flush()
                index += 1
                until -= 1
                if not until:
                    until = every
                    record_counter.increment(index - counted)
                    counted = index
                    stream.state_manager.is_flushed = False
                    if not index % state_every:
                        stream._write_state_message()
        finally:
            if index > counted:
                record_counter.increment(index - counted)
                stream.state_manager.is_flushed = False
        return index
