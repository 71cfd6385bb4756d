"""tap-profile-export: the Tap class, its settings and its vendors."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from dataclasses import replace
from functools import cached_property
from types import FrameType
from typing import Any

import ijson
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.io_base import SingerWriter

from tap_profile_export.errors import SettingError, SyncInterrupted, TapProfileExportError
from tap_profile_export.exports import ExportCoordinator, ExportSpec, PlannedExport
from tap_profile_export.redact import REDACTOR, install_log_redaction
from tap_profile_export.settings import CONFIG_SCHEMA, TapSettings, parse_settings
from tap_profile_export.streams import (
    REFERENCE_ENV,
    BrazeUsersStream,
    EventsStream,
    ExportStream,
    ProfilesStream,
    ReachabilityEventsStream,
)
from tap_profile_export.vendors import REGISTRY
from tap_profile_export.vendors.base import Vendor
from tap_profile_export.windows import to_rfc3339, utc_now
from tap_profile_export.writer import BufferedMsgSpecWriter

LOGGER = logging.getLogger("tap_profile_export")
#: Benchmark baseline: set to wait for exports one after another (no up-front requests).
SEQUENTIAL_ENV = "TAP_PROFILE_EXPORT_SEQUENTIAL"


class TapProfileExport(Tap):
    """Bulk profile exports (Batch.com, APSIS One, Braze: see `vendors.REGISTRY`) as Singer
    streams."""

    name = "tap-profile-export"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = BufferedMsgSpecWriter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install_log_redaction()
        self.failures: list[str] = []
        self._prepared = False
        if os.environ.get(REFERENCE_ENV) == "sdk-defaults":
            kwargs.setdefault("message_writer", SingerWriter())
        super().__init__(*args, **kwargs)
        with contextlib.suppress(SettingError):  # --about and discovery need no valid config
            REDACTOR.add(*self.settings.secrets)
        if ijson.backend != "yajl2_c":
            LOGGER.warning("ijson is using its %s backend, about 15x slower than yajl2_c: "
                           "reinstall ijson from a wheel for your platform", ijson.backend)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """JSON-schema validation, then the contract's limits; errors name the setting."""
        errors = super()._validate_config(raise_errors=raise_errors)
        try:
            parse_settings(self.config)
        except SettingError as exc:
            if raise_errors:
                raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
            errors.append(str(exc))
        return errors

    @cached_property
    def settings(self) -> TapSettings:
        """The validated, typed configuration."""
        return parse_settings(self.config)

    @cached_property
    def vendors(self) -> dict[str, Vendor]:
        """Configured vendors by name (a vendor is enabled when its block is present)."""
        settings = self.settings
        now = utc_now()
        if settings.end_date and settings.end_date > now:
            LOGGER.warning("end_date %s is in the future; exporting events up to now (%s) so "
                           "no bookmark moves past data that does not exist yet",
                           to_rfc3339(settings.end_date), to_rfc3339(now))
            settings = replace(settings, end_date=now)
        return {name: REGISTRY[name].load()(block, settings, now)
                for name, block in settings.vendors.items()}

    def discover_streams(self) -> list[Stream]:
        """The four streams; those whose vendors are not configured emit no records."""
        return [ProfilesStream(self), EventsStream(self), ReachabilityEventsStream(self),
                BrazeUsersStream(self)]

    @cached_property
    def coordinator(self) -> ExportCoordinator:
        """Creates every planned export at the start and waits for them together."""
        settings = self.settings
        limits = {name: REGISTRY[name].limit(block) for name, block in settings.vendors.items()}

        def order(spec: ExportSpec) -> int:  # paced exports last: they would hold up the others
            return int(REGISTRY[spec.vendor].paced(spec))

        runners = {name: vendor.runner for name, vendor in self.vendors.items()}
        return ExportCoordinator(settings.poll, runners, limits, order=order)

    def prepare_exports(self) -> None:
        """Plan the exports of every selected partition and request them up front (once)."""
        if self._prepared:
            return
        self._prepared = True
        if os.environ.get(SEQUENTIAL_ENV):  # benchmark baseline: wait for one after another
            return
        planned = []
        for stream in self.streams.values():
            if not isinstance(stream, ExportStream) or not stream.selected:
                continue
            for context in stream.partitions or []:
                _, state, plan = stream.plan_partition(context)
                planned += [PlannedExport(spec, state["exports"]) for spec in plan]
        self.coordinator.start(planned, self.checkpoint)

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK; extended, not replaced
        """Sync every selected stream; then summarise and fail if any export failed."""
        try:
            super().sync_all()
        finally:
            for vendor in self.vendors.values():
                vendor.close()
        summaries = [s for vendor in self.vendors.values() for s in vendor.runner.summaries]
        if summaries:
            LOGGER.info("Export summary:\n%s", "\n".join(f"  - {s.line()}" for s in summaries))
        if self.failures:
            raise TapProfileExportError(
                f"{len(self.failures)} export(s) failed; everything else was read and "
                f"checkpointed: " + " | ".join(self.failures))

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
