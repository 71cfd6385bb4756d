"""One sync: the configured vendors (from the registry), the export plan, checkpoints and
failures. The tap creates it; streams receive it and never import the tap."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import cached_property
from typing import Any

from tap_profile_export.exports import ExportCoordinator, ExportSpec, ExportSummary, PlannedExport
from tap_profile_export.settings import TapSettings
from tap_profile_export.vendors import REGISTRY
from tap_profile_export.vendors.base import Vendor
from tap_profile_export.windows import CLOCK_ENV, clock_offset, to_rfc3339, utc_now

LOGGER = logging.getLogger("tap_profile_export")


class SyncSession:
    """What the streams of one sync share."""

    def __init__(self, settings: Callable[[], TapSettings], checkpoint: Callable[[], None],
                 streams: Callable[[], Iterable[Any]]) -> None:
        """`settings` and `streams` are read when first needed (discovery needs neither)."""
        self._settings = settings
        self._checkpoint = checkpoint
        self._streams = streams
        #: Exports that failed this run (the sync fails at the end, naming them).
        self.failures: list[str] = []
        #: Definition streams whose listings failed this run (likewise).
        self.read_failures: list[str] = []
        self._prepared = False

    @cached_property
    def vendors(self) -> dict[str, Vendor]:
        """Configured vendors by name (a vendor is enabled when its block is present)."""
        settings = self._settings()
        now = utc_now()
        if clock_offset():
            LOGGER.warning("%s is set: this run's clock reads %s, not the wall clock's %s",
                           CLOCK_ENV, to_rfc3339(now), to_rfc3339(now - clock_offset()))
        if settings.end_date and settings.end_date > now:
            LOGGER.warning("end_date %s is in the future; exporting events up to now (%s) so "
                           "no bookmark moves past data that does not exist yet",
                           to_rfc3339(settings.end_date), to_rfc3339(now))
            settings = replace(settings, end_date=now)
        return {name: REGISTRY[name].load()(block, settings, now)
                for name, block in settings.vendors.items()}

    @cached_property
    def coordinator(self) -> ExportCoordinator:
        """Creates every planned export at the start and waits for them together."""
        settings = self._settings()
        limits = {name: REGISTRY[name].limit(block) for name, block in settings.vendors.items()}

        def order(spec: ExportSpec) -> int:  # paced exports last: they would hold up the others
            return int(spec.kind in REGISTRY[spec.vendor].paced)

        runners = {name: vendor.runner for name, vendor in self.vendors.items()}
        return ExportCoordinator(settings.poll, runners, limits, order=order)

    def resolve_settings(self) -> None:
        """Settings only the vendor's API can check (APSIS names → ids), before any stream
        runs: an unknown name stops the sync before a record is read or an export created."""
        for vendor in self.vendors.values():
            resolve = getattr(vendor, "request_settings", None)
            if resolve is not None:
                resolve()

    def plan_up_front(self) -> bool:
        """Whether exports are requested at the start of the sync (else one at a time)."""
        return True

    def prepare(self) -> None:
        """Plan the exports of every selected partition and request them up front (once)."""
        if self._prepared:
            return
        self._prepared = True
        if not self.plan_up_front():
            return
        planned = []
        for stream in self._streams():
            if not hasattr(stream, "plan_partition") or not stream.selected:
                continue
            for context in stream.partitions or []:
                _, state, plan = stream.plan_partition(context)
                planned += [PlannedExport(spec, state["exports"]) for spec in plan]
        self.coordinator.start(planned, self.checkpoint)

    def checkpoint(self) -> None:
        """Emit STATE now (the tap decides when that is safe)."""
        self._checkpoint()

    def close(self) -> list[ExportSummary]:
        """Release the vendors' HTTP sessions; what each export read cost."""
        if "vendors" not in self.__dict__:
            return []
        for vendor in self.vendors.values():
            vendor.close()
        return [s for vendor in self.vendors.values() for s in vendor.runner.summaries]
