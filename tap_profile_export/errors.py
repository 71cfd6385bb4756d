"""Typed errors. Every message names what failed (vendor, export, part, line) and never a secret."""

from __future__ import annotations


class TapProfileExportError(Exception):
    """Base class for errors the tap raises on purpose."""


class SettingError(TapProfileExportError):
    """A setting is missing or invalid; raised before any HTTP call."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting '{setting}': {problem}")
        self.setting = setting


class VendorHTTPError(TapProfileExportError):
    """The vendor API answered with an error status we do not retry (or stopped retrying)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ExportFailedError(TapProfileExportError):
    """The vendor reports that an export failed or can no longer be served."""


class ExportTimeoutError(TapProfileExportError):
    """An export did not become ready before `poll.timeout_seconds`."""


class ReaderError(TapProfileExportError):
    """An export file could not be read completely (corrupt, truncated or not JSON)."""

    def __init__(self, source: str, problem: str, *, line: int | None = None,
                 offset: int | None = None) -> None:
        where = source
        if line is not None:
            where += f", line {line}"
        if offset is not None:
            where += f", byte offset {offset}"
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.line = line
        self.offset = offset


class TruncatedInputError(ReaderError):
    """The file ended before its compressed stream or JSON document did."""


class InvalidJSONError(ReaderError):
    """A line or document is not valid JSON."""


class BatchStorageError(TapProfileExportError):
    """A BATCH file could not be written to `batch_config.storage` (permission, bucket)."""


class ExpiredLinkError(TapProfileExportError):
    """A pre-signed download link was refused as expired; a fresh one must be asked for."""


class SyncInterrupted(BaseException):
    """SIGTERM/SIGINT arrived; the tap stops after checkpointing what it read.

    A `BaseException`, like `KeyboardInterrupt`: no `except Exception` (nor a handler of the
    tap's own errors, which isolates one failed export from the others) may swallow it.
    """
