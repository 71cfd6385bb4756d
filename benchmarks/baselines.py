"""Benchmark baselines: the tap with parts of it swapped for simpler or the SDK's own ways.

Subclasses here, not switches in the package. Run one as the tap's CLI:

    python benchmarks/baselines.py sdk-defaults --config config.json
    python benchmarks/baselines.py sequential --config config.json
    python benchmarks/baselines.py array-columns --config config.json
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage

from tap_profile_export.session import SyncSession
from tap_profile_export.snapshots import SessionStream
from tap_profile_export.streams import BrazeUsersStream
from tap_profile_export.tap import TapProfileExport


class SequentialSession(SyncSession):
    """Nothing requested up front: each export is created and awaited when its stream needs it."""

    def plan_up_front(self) -> bool:
        return False


class SequentialTap(TapProfileExport):
    """Reference: waits for exports one after another."""

    session_class = SequentialSession


def sdk_record_path(stream_class: type[SessionStream]) -> type[SessionStream]:
    """`stream_class` with the SDK's own record path and recursive type conformance."""

    class Reference(stream_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE

        def _generate_record_messages(self, record: dict[str, Any]
                                      ) -> Generator[RecordMessage, None, None]:
            yield from Stream._generate_record_messages(self, record)

    Reference.__name__ = stream_class.__name__
    return Reference


class SdkDefaultsTap(TapProfileExport):
    """Reference: the SDK's default writer, record path and recursive conformance."""

    stream_classes = tuple(sdk_record_path(cls) for cls in TapProfileExport.stream_classes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("message_writer", SingerWriter())
        super().__init__(*args, **kwargs)


def with_object_items(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as 0.1.0 declared it: arrays without `items` get open-object items, which
    target-postgres turns into `jsonb[]` columns."""
    items = {"type": ["object", "null"], "properties": {}, "additionalProperties": True}
    properties = {name: {**prop, "items": items} if "array" in prop["type"]
                  and "items" not in prop else prop
                  for name, prop in schema["properties"].items()}
    return {**schema, "properties": properties}


class ArrayColumnsBrazeUsers(BrazeUsersStream):
    """braze_users with 0.1.0's schema."""

    schema = with_object_items(BrazeUsersStream.schema)


class ArrayColumnsTap(TapProfileExport):
    """Reference: Braze's arrays of objects loaded as PostgreSQL arrays (`jsonb[]`), as 0.1.0
    declared them, instead of one `jsonb` value each."""

    stream_classes = tuple(ArrayColumnsBrazeUsers if cls is BrazeUsersStream else cls
                           for cls in TapProfileExport.stream_classes)


BASELINES: dict[str, type[TapProfileExport]] = {
    "sdk-defaults": SdkDefaultsTap, "sequential": SequentialTap,
    "array-columns": ArrayColumnsTap}

if __name__ == "__main__":
    baseline = BASELINES[sys.argv.pop(1)]
    baseline.cli()
