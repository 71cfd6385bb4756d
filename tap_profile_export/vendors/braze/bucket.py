"""Braze exports written to the customer's own bucket (`braze.storage`).

Braze answers such an export with its `object_prefix` and no `url`, then uploads the files as
`segment-export/SEGMENT_ID/YYYY-MM-dd/<object_prefix>/<file>.zip` (`.gz` with
`output_format: gzip`), about one file per 5,000 users (docs/research/braze-bucket-exports.md).
The date folder is the day the export finished, not the day it was asked for, so the export is
found by listing the date folders since then; the global control group's SEGMENT_ID is not
known to the caller, so every segment folder is listed for it until its folder is found.

Braze writes no completion marker. Rule: the export is complete when the set of its files
(keys and sizes) has been the same for `settle_seconds` over at least two checks; after the
last file is read the folder is listed again and files that arrived meanwhile are read too.
Risk: a pause between two uploads longer than `settle_seconds` plus the reading time looks
like the end of the export.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    InFlightExport,
)
from tap_profile_export.progress import human_bytes
from tap_profile_export.storage import ObjectStore, StoredObject
from tap_profile_export.vendors.braze.settings import StorageSettings
from tap_profile_export.vendors.braze.spool import spool

LOGGER = logging.getLogger("tap_profile_export.braze")
EXPORT_FOLDER = "segment-export"
_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Date folders this long before the export's creation are searched too (clock skew, the
#: time zone Braze names its folders in).
DATE_SLACK = timedelta(days=1)


@dataclass
class _Settling:
    """The files of one export as last seen, and since when they have not changed."""

    files: tuple[tuple[str, int], ...]
    since: float
    checks: int = 1


class BucketExports:
    """Finds, settles and opens Braze exports in the customer's bucket (read-only)."""

    def __init__(self, settings: StorageSettings, temp_dir: str | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.temp_dir = temp_dir
        self.store = ObjectStore("braze.storage.url", settings.url,
                                 endpoint_url=settings.endpoint_url,
                                 options=settings.fsspec_options())
        self._clock = clock
        self._settling: dict[str, _Settling] = {}

    def _base(self) -> str:
        return f"{self.store.root}/{EXPORT_FOLDER}".lstrip("/")

    def handle(self, spec: ExportSpec, object_prefix: str) -> dict[str, str]:
        """The in-flight state of an export Braze writes to the bucket (no credentials)."""
        handle = {"export_id": object_prefix, "bucket": self.store.url}
        if spec.kind == "segment" and spec.scope:
            handle["segment_folder"] = f"{self._base()}/{spec.scope.split(':', 1)[1]}"
        return handle

    def resume_problem(self, entry: InFlightExport) -> str | None:
        """An export started for another bucket cannot be resumed from this one."""
        if entry.handle.get("bucket") != self.store.url:
            return "braze.storage.url changed since it was started"
        return None

    # -- finding the files -----------------------------------------------------------------

    def files(self, entry: InFlightExport) -> list[StoredObject]:
        """Every object of this export now in the bucket, sorted by key."""
        prefix = entry.export_id
        since = (entry.created - DATE_SLACK).date().isoformat()
        known = entry.handle.get("segment_folder")
        folders = [known] if known else [f"{self._base()}/{name}"
                                         for name in self.store.listdir(self._base())]
        found: list[StoredObject] = []
        for folder in folders:
            for day in self.store.listdir(folder):
                if not _DATE_FOLDER.match(day) or day < since:
                    continue
                if prefix in self.store.listdir(f"{folder}/{day}"):
                    found += self.store.objects(f"{folder}/{day}/{prefix}")
                    entry.handle["segment_folder"] = folder
        return sorted(found, key=lambda o: o.key)

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        """READY once the export's files have settled (or had settled in an earlier run)."""
        objects = self.files(entry)
        if not objects:
            return ExportCheck(ExportStatus.PENDING, "NO FILES YET")
        if entry.handle.get("settled"):
            return self._ready(objects)
        files = tuple((o.key, o.size) for o in objects)
        now = self._clock()
        seen = self._settling.get(entry.export_id)
        if seen is None or seen.files != files:
            self._settling[entry.export_id] = _Settling(files, now)
            return ExportCheck(ExportStatus.PENDING, f"UPLOADING ({len(files)} file(s) so far)")
        seen.checks += 1
        unchanged = now - seen.since
        if unchanged < self.settings.settle_seconds:
            return ExportCheck(ExportStatus.PENDING, f"SETTLING ({len(files)} file(s))")
        LOGGER.info("%s: export %s complete: %d file(s), %s, unchanged for %.1fs over %d "
                    "checks", spec.label, entry.export_id, len(files),
                    human_bytes(sum(size for _, size in files)), unchanged, seen.checks)
        entry.handle["settled"] = True
        self._settling.pop(entry.export_id, None)
        return self._ready(objects)

    def _ready(self, objects: list[StoredObject]) -> ExportCheck:
        return ExportCheck(ExportStatus.READY, "READY", self.parts(objects))

    def late_parts(self, entry: InFlightExport, known: list[ExportPart]) -> list[ExportPart]:
        """Files that arrived after the export was taken as complete (listed again)."""
        keys = {part.key for part in known}
        late = [part for part in self.parts(self.files(entry)) if part.key not in keys]
        if late:
            LOGGER.warning("braze export %s: %d file(s) arrived after it had settled; reading "
                           "them too (consider a larger braze.storage.settle_seconds)",
                           entry.export_id, len(late))
        return late

    # -- reading ---------------------------------------------------------------------------

    def open(self, spec: ExportSpec, part: ExportPart) -> IO[bytes]:
        """A gzip object streamed as it is; a ZIP spooled to temp_dir (random access)."""
        stream = self.store.open(part.key)
        if part.key.endswith(".gz"):
            return stream
        try:
            return spool(stream.read, part.size, self.temp_dir,
                         f"{spec.label} {self.store.where(part.key)}")
        finally:
            stream.close()

    def parts(self, objects: list[StoredObject]) -> list[ExportPart]:
        """One part per object: keyed by its key (the state records keys already read),
        labelled by its URL (errors name bucket and key)."""
        return [ExportPart(key=o.key, label=self.store.where(o.key), size=o.size)
                for o in objects]
