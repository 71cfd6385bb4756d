"""The toy API: `POST /exports` → `GET /exports/<id>` until `done` → `GET /exports/<id>/file`
(NDJSON)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from tap_profile_export.exports import (
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    InFlightExport,
)
from tap_profile_export.http import HttpClient
from tap_profile_export.readers import iter_records
from tests.toy_vendor.records import map_profile
from tests.toy_vendor.settings import ToySettings

#: The toy's statuses, mapped onto the lifecycle's.
STATUSES = {"queued": ExportStatus.PENDING, "working": ExportStatus.RUNNING,
            "done": ExportStatus.READY, "failed": ExportStatus.FAILED}


class ToyAdapter:
    """Create, check, open, read."""

    vendor = "toy"

    def __init__(self, settings: ToySettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        response = self.http.request("POST", f"{self.settings.api_url}/exports",
                                     what="create export", json={})
        return {"export_id": response.json()["id"]}

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        response = self.http.request("GET", f"{self.settings.api_url}/exports/{entry.export_id}",
                                     what="export status", accept=(404,))
        if response.status_code == 404:
            return ExportCheck(ExportStatus.GONE, f"toy export {entry.export_id} is gone")
        status = str(response.json()["status"])
        parts = [ExportPart(key="file", label="file")]
        mapped = STATUSES.get(status, ExportStatus.RUNNING)
        return ExportCheck(mapped, status, parts if mapped is ExportStatus.READY else [])

    @contextmanager
    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> Iterator[IO[bytes]]:
        response = self.http.request(
            "GET", f"{self.settings.api_url}/exports/{entry.export_id}/file",
            what="download", stream=True)
        try:
            yield response.raw
        finally:
            response.close()

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        for row in iter_records(stream, source):
            yield map_profile(row, entry.created_at)

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        return None
