"""The tap's streams. Each partition is one source (or Braze scope); records come from the
export lifecycle of the partition's vendor, and bookmarks move per fully-read window."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from tap_profile_export import recordpath, schemas
from tap_profile_export.conform import RootConformer
from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.exports import InFlightExport, SplitWindow
from tap_profile_export.sdk_private import (
    conform_record_data_types,
    pop_deselected_record_properties,
    utc_now,
)
from tap_profile_export.settings import schema_default
from tap_profile_export.snapshots import SessionStream, partition_key
from tap_profile_export.windows import parse_rfc3339, to_rfc3339
from tap_profile_export.windows import utc_now as tap_now

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_profile_export.exports import ExportSpec
    from tap_profile_export.session import SyncSession
    from tap_profile_export.vendors.base import Vendor

LOGGER = logging.getLogger("tap_profile_export.streams")


class ExportStream(SessionStream):
    """A stream fed by vendor exports; vendors decide partitions and plans."""

    def __init__(self, tap: Tap, session: SyncSession) -> None:
        super().__init__(tap, session)
        level = str(tap.config.get("type_conformance")
                    or schema_default("type_conformance")).upper()
        if level in TypeConformanceLevel.__members__:
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel[level]

    def _vendors(self) -> Iterable[Vendor]:
        vendors = self.session.vendors
        return [vendors[name] for name in self.sources if name in vendors]

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        """One context per source (and scope) whose vendor is configured."""
        return [c for vendor in self._vendors() for c in vendor.partitions(self.name)]

    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """The SDK's record path (taken when `recordpath.blockers` finds a reason), minus its
        per-record walk of the selection mask when nothing below the top level is
        deselected: nested vendor objects here are free-form, so usually only top-level
        properties can be deselected: computed once, popped per record.
        """
        if self._deselects_nested:
            pop_deselected_record_properties(record, self.schema, self.mask)
        else:
            for name in self._deselected_properties:
                record.pop(name, None)
        level = self.TYPE_CONFORMANCE_LEVEL
        if level == TypeConformanceLevel.ROOT_ONLY:
            record = self._conform_root(record)
        elif level == TypeConformanceLevel.RECURSIVE:
            record = conform_record_data_types(
                stream_name=self.name, record=record, schema=self.effective_schema,
                level=level, logger=self.logger)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(stream=stream_map.stream_alias, record=mapped,
                                    version=self._stream_version, time_extracted=utc_now())

    @cached_property
    def _conform_root(self) -> RootConformer:
        return RootConformer(self.effective_schema)

    @cached_property
    def _deselected_properties(self) -> tuple[str, ...]:
        return recordpath.deselected_top_level(self.mask)

    @cached_property
    def _deselects_nested(self) -> bool:
        return recordpath.deselects_nested(self.mask)

    @cached_property
    def _fast_record_path(self) -> recordpath.FastRecordPath | None:
        """The record path that writes RECORD lines itself, when nothing needs the SDK's."""
        blockers = recordpath.blockers(self, ExportStream)
        LOGGER.info("%s: %s", self.name, f"the SDK's record path ({', '.join(blockers)})"
                    if blockers else "RECORD lines written directly (recordpath)")
        return None if blockers else recordpath.FastRecordPath(self)

    def read_units(self) -> list[str]:
        """Every partition must be read completely for a whole snapshot."""
        return [partition_key(c) for c in self.partitions or []]

    def _sync_all_partitions(self, context: Any = None, *,
                             write_messages: bool = True) -> Generator[dict[str, Any], Any, Any]:
        """The direct record path when nothing needs the SDK's (`recordpath`), else the SDK's."""
        fast = self._fast_record_path if write_messages else None
        if fast is not None:
            fast.sync_records(context)  # writes the records; yields none (`Stream.sync`
            return  # discards them)
        yield from super()._sync_all_partitions(context, write_messages=write_messages)

    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """Bookmarks move per fully-read export window (see `get_records`), not per record."""

    def checkpoint(self) -> None:
        """Emit a STATE message now (the SDK would wait for the end of the stream)."""
        self.session.checkpoint()

    def plan_partition(self, context: Mapping[str, Any]) -> tuple[Vendor, dict[str, Any],
                                                                  list[ExportSpec]]:
        """The partition's vendor, its state dict, and the exports it needs, in order."""
        vendor = self.session.vendors[context.get("source") or self.sources[0]]
        state = self.get_context_state(context)
        exports: dict[str, Any] = state.setdefault("exports", {})
        bookmark = state.get("replication_key_value") if self.replication_key else None
        plan = vendor.plan(self.name, context, parse_rfc3339(bookmark) if bookmark else None,
                           exports)
        return vendor, state, plan

    def get_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        """Read the partition's exports in order, moving the bookmark per finished window.

        A failed export ends this partition (its bookmark stays before the unread window);
        other partitions and streams still run, and the tap fails at the end naming it.
        """
        if not context:
            return
        self.session.prepare()
        _, state, plan = self.plan_partition(context)
        exports = state["exports"]
        for stale in set(exports) - {spec.key for spec in plan}:
            LOGGER.info("%s: dropping in-flight export %s from state: no longer planned",
                        self.name, stale)
            exports.pop(stale)
        if not plan:
            LOGGER.info("%s %s: nothing to export", self.name, dict(context))
        try:
            queue = list(plan)
            while queue:
                spec = queue.pop(0)
                try:
                    yield from self.session.coordinator.run(spec, exports, self.checkpoint)
                except SplitWindow as split:
                    # Its halves take its place, in state too (a killed run plans them again).
                    created_at = to_rfc3339(tap_now())
                    for half in split.halves:
                        exports[half.key] = InFlightExport.placeholder(half,
                                                                       created_at).to_json()
                    queue[:0] = split.halves
                    self.checkpoint()
                    continue
                saved = exports.pop(spec.key, None)
                entry = InFlightExport.from_json(saved) if saved else None
                if self.replication_key and spec.window:
                    self._advance_bookmark(state, spec.window[1], entry)
                self.checkpoint()
            if plan:
                self._complete.add(partition_key(context))
        except TapProfileExportError as exc:
            LOGGER.error("%s %s: %s", self.name, dict(context), exc)
            # A failed partition leaves no plan behind: the next run plans afresh (only a
            # killed run resumes the halves of a split window).
            for key in [k for k, saved in exports.items() if saved.get("planned")]:
                exports.pop(key)
            self.session.failures.append(str(exc))
            self._failed.append(partition_key(context))
        finally:
            if not exports:
                state.pop("exports", None)
            self.checkpoint()


    def _advance_bookmark(self, state: dict[str, Any], window_end: datetime,
                          entry: InFlightExport | None) -> None:
        """Move the bookmark to the end of a fully read window — never past the time its
        export was created (it holds no later data), and never backwards."""
        reached = min(window_end, entry.created) if entry else window_end
        current = state.get("replication_key_value")
        if current and parse_rfc3339(current) >= reached:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = to_rfc3339(reached)


class ProfilesStream(ExportStream):
    """`profiles`: one record per profile per source (snapshot)."""

    name = "profiles"
    primary_keys: ClassVar[list[str]] = ["source", "profile_id"]
    replication_key = None
    schema = schemas.PROFILES
    snapshot = True


class EventsStream(ExportStream):
    """`events`: one record per event, incremental per source on `timestamp`."""

    name = "events"
    primary_keys: ClassVar[list[str]] = ["source", "event_id"]
    replication_key = "timestamp"
    schema = schemas.EVENTS


class ReachabilityEventsStream(ExportStream):
    """`reachability_events`: Batch reachability events, incremental on `timestamp`."""

    name = "reachability_events"
    primary_keys: ClassVar[list[str]] = ["event_id"]
    replication_key = "timestamp"
    schema = schemas.REACHABILITY_EVENTS


class BrazeUsersStream(ExportStream):
    """`braze_users`: one record per user per export scope (snapshot)."""

    name = "braze_users"
    primary_keys: ClassVar[list[str]] = ["export_scope", "braze_id"]
    replication_key = None
    schema = schemas.BRAZE_USERS
    snapshot = True

