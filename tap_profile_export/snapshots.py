"""What every stream of a sync shares: the session, the vendors feeding it (registry), and table
versions for snapshot streams (`activate_version`, README "Deleted profiles"): records carry the
run's version, and ACTIVATE_VERSION follows only a run that read every source completely."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream

from tap_profile_export.batches import write_jsonl_batches
from tap_profile_export.sdk_private import BaseBatchFileEncoding, BatchConfig
from tap_profile_export.settings import schema_default
from tap_profile_export.vendors import sources as vendor_sources

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_profile_export.session import SyncSession

LOGGER = logging.getLogger("tap_profile_export.streams")


class SessionStream(Stream):
    """A stream of one sync, fed by the vendors the registry names for it."""

    #: A full snapshot per run: with `activate_version` on, its records carry the run's table
    #: version and ACTIVATE_VERSION follows once every source was read (`_sync_records`).
    snapshot: ClassVar[bool] = False

    def __init__(self, tap: Tap, session: SyncSession) -> None:
        super().__init__(tap)
        #: The sync this stream is part of: vendors, plan, checkpoints, failures.
        self.session = session
        #: What this run read completely, and what failed (`read_units` keys).
        self._complete: set[str] = set()
        self._failed: list[str] = []
        self.activation = str(tap.config.get("activate_version")
                              or schema_default("activate_version"))
        if self.snapshot and self.activation != "off":
            self._stream_version = tap.initialized_at  # ms since epoch: grows run to run

    @property
    def sources(self) -> tuple[str, ...]:
        """Vendors feeding this stream (from the registry). Partition contexts hold only record
        columns (the SDK copies them into records): `source`, or `export_scope` for a stream
        only one vendor feeds."""
        return vendor_sources(self.name)

    def read_units(self) -> list[str]:
        """What must be read completely for a whole snapshot (partitions, or sources)."""
        return [partition_key({"source": name}) for name in self.sources
                if name in self.session.vendors]

    def get_batches(self, batch_config: BatchConfig, context: Mapping[str, Any] | None = None
                    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """BATCH mode, every stream: JSONL files written while records are read (flat
        memory, errors naming bucket and permission: see `batches.py`); other formats
        (parquet) keep the SDK's batcher."""
        if batch_config.encoding.format != "jsonl":
            yield from super().get_batches(batch_config, context)
            return
        # `_sync_records(write_messages=False)` is what the SDK's own `get_batches` iterates:
        # records after selection, bookmarks and counters, with no RECORD/STATE written.
        records = self._sync_records(context, write_messages=False)
        for manifest in write_jsonl_batches(records, batch_config,
                                            f"{self.tap_name}--{self.name}"):
            yield batch_config.encoding, manifest

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never the SDK's way: it sends ACTIVATE_VERSION before the records, so a run
        failing half-way would mark every unread row deleted. See `_sync_records`."""
        return False

    def _sync_all_partitions(self, context: Any = None, *,
                             write_messages: bool = True) -> Generator[dict[str, Any], Any, Any]:
        """The SDK's sync of every partition (a stream may write its records its own way)."""
        yield from super()._sync_records(context, write_messages=write_messages)

    def _sync_records(self, context: Any = None, *,
                      write_messages: bool = True) -> Generator[dict[str, Any], Any, Any]:
        """The SDK's sync of every partition; then ACTIVATE_VERSION if the snapshot is whole.

        Reached only when nothing raised; failures this tap tolerates (a vendor's export or a
        definitions listing failed, the rest went on) are recorded in `_failed` and block it.
        """
        yield from self._sync_all_partitions(context, write_messages=write_messages)
        if self._stream_version is None or context is not None:
            return
        if not write_messages:
            LOGGER.warning("%s: no ACTIVATE_VERSION in BATCH mode (batch files carry no table "
                           "version); rows absent from the snapshot are not marked deleted",
                           self.name)
            return
        missing = self.activation_blockers()
        if missing:
            LOGGER.log(logging.WARNING if self._failed else logging.INFO,
                       "%s: no ACTIVATE_VERSION this run, so no row is marked deleted: %s",
                       self.name, "; ".join(missing))
            return
        LOGGER.info("%s: every partition read completely (%s); ACTIVATE_VERSION %d: the "
                    "target marks rows of older versions deleted", self.name,
                    ", ".join(sorted(self._complete)), self._stream_version)
        self._write_activate_version_message(self._stream_version)

    def activation_blockers(self) -> list[str]:
        """Why this run's snapshot may not replace the table (empty: it may)."""
        found = [f"{key} failed" for key in self._failed]
        if self.activation == "all_sources":
            found += [f"source {name} is not configured in this run (activate_version="
                      f"all_sources: the table may hold its rows)"
                      for name in self.sources if name not in self.session.vendors]
        units = self.read_units()
        if not units:
            found.append("no source configured")
        found += [f"{key} was not read" for key in units
                  if key not in self._complete and key not in self._failed]
        return found


def partition_key(context: Mapping[str, Any]) -> str:
    """A partition in logs: `source=batch`, `export_scope=segment:seg-alpha`."""
    return ",".join(f"{k}={v}" for k, v in sorted(context.items()))
