"""Creates, resumes and reads exports for one vendor client (waiting is the coordinator's).

Retries interrupted downloads (re-opening the part and skipping records already yielded),
checks parts against the size the vendor states, logs progress and checkpoints after each
part.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import IO, Any, cast

from tap_profile_export.errors import VendorHTTPError
from tap_profile_export.exports.model import (
    RETRIED_PART_ERRORS,
    Checkpoint,
    ExportAdapter,
    ExportPart,
    ExportSpec,
    ExportSummary,
    IncompletePartError,
    InFlightExport,
    save,
)
from tap_profile_export.progress import ReadProgress, human_bytes
from tap_profile_export.readers import CountingReader
from tap_profile_export.redact import REDACTOR
from tap_profile_export.settings import DEFAULT_RETRY, RetrySettings
from tap_profile_export.windows import to_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export.exports")


class ExportRunner:
    """Creates, resumes and reads the exports of one vendor client."""

    def __init__(self, adapter: ExportAdapter, *, retry: RetrySettings = DEFAULT_RETRY,
                 max_part_attempts: int = 4,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.adapter = adapter
        self.retry = retry
        self.max_part_attempts = max_part_attempts
        self._sleep = sleep
        self.summaries: list[ExportSummary] = []
        self._created_here: set[str] = set()
        #: Typed entries handed out this run, so every user of one export shares one object.
        self._live: dict[tuple[str, str], InFlightExport] = {}

    def ensure_created(self, spec: ExportSpec, exports: MutableMapping[str, Any],
                       checkpoint: Checkpoint) -> InFlightExport:
        """The resumable in-flight entry of `spec` from state, or a newly created export."""
        saved = exports.get(spec.key)
        if saved is not None and not saved.get("planned"):
            live = self._live.get((spec.stream, spec.key))
            entry = InFlightExport.from_json(saved)
            if live is not None and live.export_id == entry.export_id:
                entry = live
            self._live[(spec.stream, spec.key)] = entry
            problem = self.adapter.resume_problem(spec, entry)
            if not problem:
                if spec.key not in self._created_here:
                    LOGGER.info("%s: resuming export %s (created %s) from state", spec.label,
                                entry.export_id, entry.created_at)
                return entry
            LOGGER.info("%s: not resuming export %s from state (%s); creating a new one",
                        spec.label, entry.export_id, problem)
        entry = self._live[(spec.stream, spec.key)] = self._create(spec)
        self._created_here.add(spec.key)
        save(exports, spec, entry, checkpoint)
        return entry

    def created_this_run(self, spec: ExportSpec) -> bool:
        """False for an export resumed from an earlier run's state."""
        return spec.key in self._created_here

    def forget(self, spec: ExportSpec, exports: MutableMapping[str, Any],
               checkpoint: Checkpoint) -> None:
        """Drop a failed export from state (the next run must not resume it)."""
        exports.pop(spec.key, None)
        self._live.pop((spec.stream, spec.key), None)
        checkpoint()

    def _create(self, spec: ExportSpec) -> InFlightExport:
        created_at = to_rfc3339(utc_now())
        entry = InFlightExport.new(spec, self.adapter.create(spec), created_at)
        LOGGER.info("%s: created export %s", spec.label, entry.export_id)
        return entry

    def read(self, spec: ExportSpec, entry: InFlightExport, parts: list[ExportPart],
             exports: MutableMapping[str, Any],
             checkpoint: Checkpoint) -> Iterator[dict[str, Any]]:
        """Yield the records of every part not read yet, checkpointing after each part."""
        done = entry.parts_done
        progress = ReadProgress(f"{spec.label} {entry.export_id}")
        parts = list(parts)
        # A vendor that may still be writing files when the export looked complete (Braze to
        # the customer's bucket) lists them again once the known ones are read.
        late_parts = getattr(self.adapter, "late_parts", None)
        pending = list(parts)
        while pending:
            for part in pending:
                if part.key in done:
                    LOGGER.info("%s: skipping %s, already read by an earlier run", spec.label,
                                part.label)
                    progress.parts_done += 1
                    continue
                yield from self._read_part(spec, entry, part, progress, len(parts))
                done.append(part.key)
                progress.parts_done += 1
                save(exports, spec, entry, checkpoint)
            pending = late_parts(spec, entry, parts) if late_parts else []
            parts += pending
        LOGGER.info("%s: export %s read: %d part(s), %d records, %s, %.0f records/s",
                    spec.label, entry.export_id, len(parts), progress.records,
                    human_bytes(progress.bytes_done), progress.rate())
        self.summaries.append(ExportSummary(
            spec.label, entry.export_id, entry.waited_seconds, progress.bytes_done,
            progress.records, time.monotonic() - progress.started))

    def _read_part(self, spec: ExportSpec, entry: InFlightExport, part: ExportPart,
                   progress: ReadProgress, parts_total: int) -> Iterator[dict[str, Any]]:
        source = f"{spec.label} {entry.export_id} {part.label}"
        emitted = 0
        for attempt in range(1, self.max_part_attempts + 1):
            seen = 0
            counter: CountingReader | None = None
            try:
                with self.adapter.open_part(spec, entry, part) as raw:
                    counter = CountingReader(raw)
                    stream = cast(IO[bytes], counter)
                    for record in self.adapter.read_part(spec, entry, stream, source):
                        seen += 1
                        if seen <= emitted:
                            continue  # already yielded before the download was interrupted
                        emitted += 1
                        progress.records += 1
                        if not progress.records & 0x3FF:
                            progress.tick(part.label, counter.bytes_read, part.size, parts_total)
                        yield record
                    if part.expected_bytes is not None:
                        _check_complete(counter, part.expected_bytes)
                progress.bytes_done += counter.bytes_read
                return
            except RETRIED_PART_ERRORS as exc:
                at = counter.bytes_read if counter else 0
                reason = f"{type(exc).__name__}: {REDACTOR(str(exc))[:160]}"
                if attempt >= self.max_part_attempts:
                    raise VendorHTTPError(
                        f"{source}: download failed {attempt} times, last at byte {at} "
                        f"({reason})") from None
                delay = self.retry.delay(attempt)
                LOGGER.warning("%s: download interrupted at byte %d (%s); reopening in %.1fs, "
                               "attempt %d/%d", source, at, reason, delay, attempt + 1,
                               self.max_part_attempts)
                self._sleep(delay)


def _check_complete(counter: CountingReader, expected: int) -> None:
    """Read to the end (a reader may stop at a closing bracket) and compare with `expected`."""
    while counter.read(1 << 16):
        pass
    if counter.bytes_read != expected:
        raise IncompletePartError(f"the part ended after {counter.bytes_read} of the {expected} "
                                  f"bytes the vendor stated")


