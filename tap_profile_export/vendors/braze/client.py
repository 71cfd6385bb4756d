"""Braze user exports: segment, global control group (asynchronous) and ids (synchronous).

Asynchronous exports answer with a pre-signed `url` that is probed **without** Braze
credentials: 403/404 means not ready yet; 200 serves a ZIP of NDJSON members (or gzip NDJSON).
The body is spooled to a temporary file (ZIP needs random access) and every member streamed.
A link refused after it had been ready has expired: a new export is created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Any, cast

import requests

from tap_profile_export.errors import (
    ExportFailedError,
    ReaderError,
)
from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    RecreateExport,
)
from tap_profile_export.http import HttpClient, require_secure_download
from tap_profile_export.readers import iter_archive_records
from tap_profile_export.seen import SeenIds
from tap_profile_export.vendors.braze.bucket import BucketExports
from tap_profile_export.vendors.braze.ids import PATH as IDS_PATH
from tap_profile_export.vendors.braze.ids import IdsExport
from tap_profile_export.vendors.braze.records import map_user
from tap_profile_export.vendors.braze.settings import BrazeSettings
from tap_profile_export.vendors.braze.spool import spool
from tap_profile_export.windows import parse_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export.braze")
LINK_LIFETIME = timedelta(hours=4)
LINK_MARGIN = timedelta(minutes=30)

ENDPOINTS = {"segment": "/users/export/segment",
             "global_control_group": "/users/export/global_control_group"}


class BrazeAdapter:
    """The Braze steps of the export lifecycle."""

    vendor = "braze"
    #: What to configure smaller when a segment export keeps failing (no time window).
    size_hint = ("fewer braze.fields_to_export or braze.custom_attributes_to_export, or "
                 "smaller segments; or export to your own bucket (braze.storage), which Braze "
                 "recommends for large exports")

    def __init__(self, settings: BrazeSettings, http: HttpClient, temp_dir: str | None) -> None:
        self.settings = settings
        self.http = http
        self.temp_dir = temp_dir
        self._warned_fields: set[str] = set()
        #: The customer's bucket when Braze exports there (`braze.storage`).
        self.bucket = BucketExports(settings.storage, temp_dir) if settings.storage else None
        self.ids = IdsExport(settings.ids, http, f"{settings.rest_endpoint}{IDS_PATH}",
                             lambda: self.fields_for("ids"), settings.api_key)

    def fields_for(self, kind: str) -> list[str]:
        """The endpoint's `fields_to_export` (configured names it does not document are left
        out, with a warning once)."""
        fields = self.settings.fields_for(kind)
        left_out = [f for f in self.settings.fields_to_export
                    if f not in fields and f != "braze_id"]
        if left_out and kind not in self._warned_fields:
            self._warned_fields.add(kind)
            LOGGER.warning("braze %s export: Braze documents no %s for this endpoint; left out "
                           "of its fields_to_export", kind, ", ".join(left_out))
        return list(fields)

    # -- create ----------------------------------------------------------------------------

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        """POST the segment / control-group export; the ids export needs no creation.

        Each endpoint gets only its own parameters: the global control group takes no
        `custom_attributes_to_export` (Braze refuses it; see `BrazeSettings.fields_for`).
        """
        if spec.kind == "ids":
            return self.ids.handle()
        body: dict[str, Any] = {"fields_to_export": self.fields_for(spec.kind)}
        if spec.kind == "segment":
            body["segment_id"] = spec.scope.split(":", 1)[1] if spec.scope else ""
            if self.settings.custom_attributes_to_export:
                body["custom_attributes_to_export"] = list(
                    self.settings.custom_attributes_to_export)
        if self.settings.storage:
            body["output_format"] = self.settings.storage.output_format
        response = self.http.request("POST",
                                     f"{self.settings.rest_endpoint}{ENDPOINTS[spec.kind]}",
                                     what=f"create {spec.scope} export", json=body,
                                     max_attempts=10)
        answer = _json(response, spec.label)
        url = answer.get("url")
        prefix = answer.get("object_prefix")
        if isinstance(url, str) and url:
            require_secure_download(url, f"braze {spec.scope} export")
            return {"export_id": str(prefix or spec.scope), "url": url}
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ExportFailedError(f"{spec.label}: Braze answered with neither a download url "
                                    f"nor an object_prefix")
        if self.bucket is None:
            raise ExportFailedError(
                f"{spec.label}: Braze answered without a download url: this account exports "
                f"to its own S3/Azure/GCS bucket. Set braze.storage.url to that bucket (and "
                f"give the tap read access to it); see the README, 'Braze exports to your own "
                f"bucket'")
        LOGGER.info("%s: Braze writes export %s to %s", spec.label, prefix, self.bucket.store.url)
        return self.bucket.handle(spec, prefix)

    # -- readiness -------------------------------------------------------------------------

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        """Probe the signed URL without credentials (403/404: not ready)."""
        if spec.kind == "ids":
            return ExportCheck(ExportStatus.READY, "READY", self.ids.parts())
        if entry.handle.get("bucket"):
            return self._bucket(entry).check(spec, entry)
        response = self._probe(spec, entry)
        # The probe never keeps the download open: it is closed here (the coordinator's
        # thread) and the body is fetched again when reading starts (the stream's thread).
        try:
            status = response.status_code
            text = response.text if status in (403, 404) else ""
            size = response.headers.get("Content-Length")
        finally:
            response.close()
        if status in (403, 404):
            expired = "ExpiredToken" in text or "expired" in text.lower()
            if expired or entry.handle.get("was_ready"):
                return ExportCheck(ExportStatus.GONE,
                                   f"Braze export {entry.export_id}: download link expired")
            return ExportCheck(ExportStatus.PENDING, f"NOT_READY (HTTP {status})")
        entry.handle["was_ready"] = True
        return ExportCheck(ExportStatus.READY, "READY", [
            ExportPart(key="archive", label="archive", size=int(size) if size else None)])

    def _probe(self, spec: ExportSpec, entry: InFlightExport) -> requests.Response:
        what = f"{spec.scope} export {entry.export_id} download"
        url = require_secure_download(entry.handle["url"], f"braze {what}")
        return self.http.request("GET", url, authenticated=False, stream=True, what=what,
                                 accept=(403, 404))

    # -- download --------------------------------------------------------------------------

    @contextmanager
    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> Iterator[IO[bytes]]:
        """ids: POST one request. Archives: spool the body to a temp file, then yield it."""
        if spec.kind == "ids":
            yield self.ids.fetch(part)
            return
        if entry.handle.get("bucket"):
            stream = self._bucket(entry).open(spec, part)
            try:
                yield stream
            finally:
                stream.close()
            return
        response = self._probe(spec, entry)
        if response.status_code != 200:
            response.close()
            raise RecreateExport(f"Braze export {entry.export_id}: download link refused "
                                 f"(HTTP {response.status_code}) after it had been ready")
        spool = self._spool(spec, response)
        try:
            yield cast(IO[bytes], spool)
        finally:
            spool.close()

    def _spool(self, spec: ExportSpec, response: requests.Response) -> IO[bytes]:
        length = int(response.headers.get("Content-Length") or 0)
        try:
            return spool(lambda n: response.raw.read(n, decode_content=False), length,
                         self.temp_dir, spec.label)
        finally:
            response.close()

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        """Users of one ids request, or of every member of the archive, de-duplicated."""
        exported_at = entry.created_at
        if spec.kind == "ids":
            yield from self.ids.read(spec.label, entry, stream, source, exported_at)
            return
        duplicates = 0
        with SeenIds(self.temp_dir) as seen:
            for user in iter_archive_records(stream, source):
                braze_id = user.get("braze_id")
                if not isinstance(braze_id, str) or not braze_id:
                    raise ReaderError(source, "a user has no braze_id")
                if not seen.add(braze_id):
                    duplicates += 1
                    continue
                yield map_user(user, spec.scope or spec.kind, exported_at)
        if duplicates:
            LOGGER.info("%s: skipped %d duplicated user(s) (Braze cleans these up weekly)",
                        source, duplicates)

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        """Braze links live ~4 hours; older ones have expired (and their files are gone). An
        ids export resumes only for the same configured selectors (same digest)."""
        if spec.kind == "ids":
            return self.ids.resume_problem(entry)
        if entry.handle.get("bucket"):  # files stay in the customer's bucket: no link to expire
            if self.bucket is None:
                return "braze.storage is no longer configured"
            return self.bucket.resume_problem(entry)
        created = parse_rfc3339(entry.created_at)
        if utc_now() - created > LINK_LIFETIME - LINK_MARGIN:
            return "its download link is older than Braze keeps it (about 4 hours)"
        return None


    def late_parts(self, spec: ExportSpec, entry: InFlightExport,
                   known: list[ExportPart]) -> list[ExportPart]:
        """Bucket exports: files that arrived after the export was taken as complete."""
        if not entry.handle.get("bucket"):
            return []
        return self._bucket(entry).late_parts(entry, known)

    def _bucket(self, entry: InFlightExport) -> BucketExports:
        if self.bucket is None:  # resume_problem keeps such an entry from being used
            raise ExportFailedError(f"Braze export {entry.export_id} is in a bucket but "
                                    f"braze.storage is not configured")
        return self.bucket


def _json(response: requests.Response, label: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ExportFailedError(f"{label}: Braze answered with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise ExportFailedError(f"{label}: Braze answered with unexpected JSON")
    return body
