"""tap-profile-export: the Tap class, its settings and its vendors."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from functools import cached_property
from types import FrameType
from typing import Any

import ijson
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError

from tap_profile_export.definition_streams import DEFINITION_STREAMS
from tap_profile_export.errors import SettingError, SyncInterrupted, TapProfileExportError
from tap_profile_export.redact import REDACTOR, install_log_redaction
from tap_profile_export.session import SyncSession
from tap_profile_export.settings import CONFIG_SCHEMA, TapSettings, parse_settings
from tap_profile_export.snapshots import SessionStream
from tap_profile_export.streams import (
    BrazeUsersStream,
    EventsStream,
    ProfilesStream,
    ReachabilityEventsStream,
)
from tap_profile_export.writer import BufferedMsgSpecWriter

LOGGER = logging.getLogger("tap_profile_export")


class TapProfileExport(Tap):
    """Bulk profile exports (Batch.com, APSIS One, Braze: see `vendors.REGISTRY`) as Singer
    streams."""

    name = "tap-profile-export"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = BufferedMsgSpecWriter
    session_class: type[SyncSession] = SyncSession
    #: The streams, discovered with this sync's session (benchmarks swap in reference ones);
    #: the SDK syncs them in name order, so APSIS's definitions come first.
    stream_classes: tuple[type[SessionStream], ...] = (
        ProfilesStream, EventsStream, ReachabilityEventsStream, BrazeUsersStream,
        *DEFINITION_STREAMS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install_log_redaction()
        self.session = self.session_class(lambda: self.settings, self.checkpoint,
                                          lambda: self.streams.values())
        super().__init__(*args, **kwargs)
        with contextlib.suppress(SettingError):  # --about and discovery need no valid config
            REDACTOR.add(*self.settings.secrets)
        if ijson.backend != "yajl2_c":
            LOGGER.warning("ijson is using its %s backend, about 15x slower than yajl2_c: "
                           "reinstall ijson from a wheel for your platform", ijson.backend)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The contract's checks, then JSON-schema validation; errors name the setting.

        Ours come first: they never quote a value, and jsonschema's messages do (`'a@b.c' is
        not of type 'array'`), which for the Braze ids selectors would be personal data.
        """
        try:
            parse_settings(self.config)
        except SettingError as exc:
            if raise_errors:
                raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
            return [str(exc), *super()._validate_config(raise_errors=False)]
        return super()._validate_config(raise_errors=raise_errors)

    @cached_property
    def settings(self) -> TapSettings:
        """The validated, typed configuration."""
        return parse_settings(self.config)

    def discover_streams(self) -> list[Stream]:
        """Every stream; those whose vendors are not configured emit no records."""
        return [stream(self, self.session) for stream in self.stream_classes]

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK; extended, not replaced
        """Sync every selected stream; then summarise and fail if any export or definitions
        listing failed."""
        try:
            self.session.resolve_settings()
            super().sync_all()
        finally:
            summaries = self.session.close()
        if summaries:
            LOGGER.info("Export summary:\n%s", "\n".join(f"  - {s.line()}" for s in summaries))
        exports, listings = self.session.failures, self.session.read_failures
        counts = [f"{len(found)} {what} failed" for found, what in
                  ((exports, "export(s)"), (listings, "definition stream(s)")) if found]
        if counts:
            raise TapProfileExportError(
                f"{' and '.join(counts)}; everything else was read and checkpointed: "
                + " | ".join(exports + listings))

    def checkpoint(self) -> None:
        """Write the whole tap state now (skipped when unchanged).

        Not in BATCH mode: records then sit in a batch file until the SDK emits its BATCH
        message, and a STATE before that message could cover records the target never got.
        The SDK writes STATE after every BATCH message instead; at that moment every record
        read so far is in a batch already sent, so the in-flight state it carries is exact.
        """
        if self.config.get("batch_config"):
            return
        self.state_writer.write_state(self.state)

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI; the tap's own errors end it with one clear line and exit status 1."""
        try:
            super().invoke(*args, **kwargs)
        except (TapProfileExportError, SyncInterrupted) as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: unwind (temp files removed, state checkpointed), exit non-zero."""
        raise SyncInterrupted(
            f"received {signal.Signals(signum).name}; stopped. The last STATE message covers "
            f"everything read completely; rerun with it to resume.")


if __name__ == "__main__":
    TapProfileExport.cli()
