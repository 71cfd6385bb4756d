"""The vendor-neutral export lifecycle: model (spec, status enum, typed in-flight state),
coordinator (the only poller) and runner (create, resume, read parts, retries)."""

from tap_profile_export.exports.coordinator import ExportCoordinator, PlannedExport
from tap_profile_export.exports.model import (
    Checkpoint,
    ExportAdapter,
    ExportCheck,
    ExportPart,
    ExportSpec,
    ExportStatus,
    ExportSummary,
    InFlightExport,
    RecreateExport,
    SplitWindow,
    vendor_time,
)
from tap_profile_export.exports.runner import ExportRunner

__all__ = [
    "Checkpoint", "ExportAdapter", "ExportCheck", "ExportCoordinator", "ExportPart",
    "ExportRunner", "ExportSpec", "ExportStatus", "ExportSummary", "InFlightExport",
    "PlannedExport", "RecreateExport", "SplitWindow", "vendor_time",
]
