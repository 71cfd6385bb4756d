"""Request every planned export up front and wait for them together.

Vendors take minutes to hours to prepare an export; waiting for one after another costs the
sum of those delays. The coordinator plans the exports of every selected stream partition,
creates them at the start of the sync (within each vendor's limits, recorded in state at
once), and checks their readiness concurrently from one background thread, each export with
its own back-off and deadline. Streams still read their exports in window order through the
runner, which asks the coordinator instead of polling by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.exports import (
    Checkpoint,
    ExportPart,
    ExportRunner,
    ExportSpec,
    InFlightExport,
    timeout_error,
)
from tap_profile_export.progress import Throttle
from tap_profile_export.settings import PollSettings

LOGGER = logging.getLogger("tap_profile_export.coordinator")


@dataclass
class PlannedExport:
    """One export the sync needs, where its state lives, and its readiness outcome."""

    spec: ExportSpec
    runner: ExportRunner
    exports: MutableMapping[str, Any]
    entry: InFlightExport | None = None
    parts: list[ExportPart] | None = None
    error: BaseException | None = None
    status: str = "PLANNED"
    started: float = 0.0
    next_check: float = 0.0
    interval: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


class ExportCoordinator:
    """Creates planned exports at once and watches their readiness in one thread."""

    def __init__(self, poll: PollSettings, limits: Mapping[str, int], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.poll = poll
        self.limits = limits
        self._clock = clock
        self._watched: dict[tuple[str, str, str], PlannedExport] = {}
        self._queued: dict[str, list[PlannedExport]] = {}
        self._checkpoint: Checkpoint = lambda: None
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _key(spec: ExportSpec) -> tuple[str, str, str]:
        return (spec.vendor, spec.stream, spec.key)

    def start(self, planned: Iterable[PlannedExport], checkpoint: Checkpoint) -> None:
        """Create (or resume) every planned export within limits, then start watching."""
        planned = list(planned)
        if not planned:
            return
        LOGGER.info("Export plan: %d export(s)\n%s", len(planned), "\n".join(
            f"  - {p.spec.label}" + (" (in flight, resuming)" if p.spec.key in p.exports else "")
            for p in planned))
        self._checkpoint = checkpoint
        # Paced exports (APSIS events) last, so the others are not held up by the pacing.
        for item in sorted(planned, key=lambda p: p.spec.vendor == "apsis"
                           and p.spec.kind == "events"):
            self._queued.setdefault(item.spec.vendor, []).append(item)
        for vendor in list(self._queued):
            self._fill(vendor)
        self._start_thread()

    def _active(self, vendor: str) -> int:
        return sum(1 for item in self._watched.values()
                   if item.spec.vendor == vendor and item.entry is not None)

    def _fill(self, vendor: str) -> None:
        """Create queued exports of `vendor` while it has free slots (main thread only)."""
        queue = self._queued.get(vendor, [])
        while queue and self._active(vendor) < self.limits.get(vendor, 1):
            item = queue.pop(0)
            item.runner.waiter = self
            self._watched[self._key(item.spec)] = item
            try:
                item.entry = item.runner.ensure_created(item.spec, item.exports,
                                                        self._checkpoint)
            except TapProfileExportError as exc:  # reported by the stream that needs it
                item.error = exc
                item.done.set()
                continue
            with self._lock:
                item.started = item.next_check = self._clock()
                item.interval = self.poll.initial_interval
                self._lock.notify_all()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="export-readiness",
                                        daemon=True)
        self._thread.start()

    def create_error(self, spec: ExportSpec) -> BaseException | None:
        """The error of a failed up-front creation (raised once, by the reading stream)."""
        item = self._watched.get(self._key(spec))
        if item is not None and item.entry is None and item.error is not None:
            self._watched.pop(self._key(spec), None)
            return item.error
        return None

    def wait(self, spec: ExportSpec, entry: InFlightExport) -> list[ExportPart] | None:
        """Block until the watched export is ready (or failed); None if not watched."""
        key = self._key(spec)
        for queue in self._queued.values():  # its stream got there first: it runs it itself
            queue[:] = [q for q in queue if self._key(q.spec) != key]
        item = self._watched.get(key)
        if item is None or item.entry is None or item.entry.export_id != entry.export_id:
            return None
        item.done.wait()
        self._watched.pop(key, None)
        self._fill(spec.vendor)  # a slot is free: request the next export of this vendor
        if item.error is not None:
            raise item.error
        waited = self._clock() - item.started
        entry.waited_seconds = round(entry.waited_seconds + waited, 1)
        return item.parts

    def stop(self) -> None:
        """Stop the watcher thread."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()

    def _watch(self) -> None:
        throttle = Throttle()
        while not self._stop.is_set():
            pending = [p for p in list(self._watched.values())
                       if not p.done.is_set() and p.entry is not None]
            delay = (min(p.next_check for p in pending) - self._clock()) if pending else 1.0
            if delay > 0:
                with self._lock:  # woken early when a new export is added
                    self._lock.wait(delay)
                continue
            item = min(pending, key=lambda p: p.next_check)
            self._check(item)
            if throttle.ready():
                waiting = [p for p in list(self._watched.values()) if not p.done.is_set()]
                if waiting:
                    LOGGER.info("Waiting for %d export(s): %s", len(waiting), "; ".join(
                        f"{p.spec.label} {p.entry.export_id if p.entry else '?'} {p.status} "
                        f"{self._clock() - p.started:.0f}s" for p in waiting))

    def _check(self, item: PlannedExport) -> None:
        assert item.entry is not None
        try:
            readiness = item.runner.adapter.check(item.spec, item.entry)
        except BaseException as exc:  # handed to the stream that reads this export
            item.error = exc
            item.done.set()
            return
        waited = self._clock() - item.started
        if readiness.status != item.status and not readiness.ready:
            LOGGER.info("%s: export %s status %s, waited %.0fs", item.spec.label,
                        item.entry.export_id, readiness.status, waited)
        item.status = readiness.status
        if readiness.ready:
            LOGGER.info("%s: export %s ready after %.1fs, %d part(s)", item.spec.label,
                        item.entry.export_id, waited, len(readiness.parts))
            item.parts = readiness.parts
            item.done.set()
        elif waited >= self.poll.timeout:
            item.error = timeout_error(item.spec, item.entry, waited, self.poll.timeout,
                                       readiness.status)
            item.done.set()
        else:
            item.next_check = self._clock() + min(item.interval, self.poll.timeout - waited)
            item.interval = min(max(item.interval * 2, 0.001), self.poll.max_interval)
