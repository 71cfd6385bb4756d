"""Request every planned export up front and wait for them together: the only poller.

Vendors take minutes to hours to prepare an export; waiting for one after another costs the
sum of those delays. The sync plans the exports of every selected stream partition; the
coordinator creates them at the start (within each vendor's limit, recorded in state at once)
and, whenever a stream waits for one of its exports, checks the readiness of every export in
flight, each with its own back-off and deadline, earliest check first. Streams read their
exports in window order through `run`; the runner creates, resumes and reads, never polls.
Waiting one export after another is the same loop with nothing planned up front.

The loop runs in the thread of the stream that waits (no background thread, no locks):
exports are checked while some stream waits, not while one is being downloaded — they keep
being prepared by the vendor meanwhile, and the first check after the download finds them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from tap_profile_export.errors import (
    ExportFailedError,
    ExportTimeoutError,
    TapProfileExportError,
)
from tap_profile_export.exports.model import (
    Checkpoint,
    ExportCheck,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    RecreateExport,
    SplitWindow,
    halve,
    timeout_error,
)
from tap_profile_export.exports.runner import ExportRunner
from tap_profile_export.progress import Throttle
from tap_profile_export.settings import PollSettings
from tap_profile_export.windows import to_rfc3339

LOGGER = logging.getLogger("tap_profile_export.coordinator")


@dataclass
class PlannedExport:
    """One export the sync needs and where its state lives."""

    spec: ExportSpec
    exports: MutableMapping[str, Any]


@dataclass
class _Watch:
    """An export being waited for: its entry, back-off and outcome."""

    spec: ExportSpec
    runner: ExportRunner
    exports: MutableMapping[str, Any]
    #: Requested up front (counts against its vendor's limit) rather than by its stream.
    planned: bool
    entry: InFlightExport | None = None
    answer: ExportCheck | None = None
    error: BaseException | None = None
    status: str = "PLANNED"
    started: float = 0.0
    next_check: float = 0.0
    interval: float = 0.0
    checks: int = 0

    @property
    def done(self) -> bool:
        return self.answer is not None or self.error is not None


def _plan_note(planned: PlannedExport) -> str:
    saved = planned.exports.get(planned.spec.key)
    if saved is None:
        return ""
    return " (half of a split window)" if saved.get("planned") else " (in flight, resuming)"


class ExportCoordinator:
    """Creates planned exports at once, waits for every export, drives each one to its end."""

    def __init__(self, poll: PollSettings, runners: Mapping[str, ExportRunner],
                 limits: Mapping[str, int], *,
                 order: Callable[[ExportSpec], int] = lambda spec: 0, max_recreates: int = 3,
                 split_after: int = 2,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.poll = poll
        self.runners = runners
        self.limits = limits
        #: Creation order of planned exports (lower first): paced exports go last.
        self.order = order
        self.max_recreates = max_recreates
        #: Failures (the vendor's FAILED) after which an event window is split in halves.
        self.split_after = split_after
        self._sleep = sleep
        self._clock = clock
        self._watched: dict[tuple[str, str, str], _Watch] = {}
        self._queued: dict[str, list[_Watch]] = {}
        self._checkpoint: Checkpoint = lambda: None
        self._throttle = Throttle()

    @staticmethod
    def _key(spec: ExportSpec) -> tuple[str, str, str]:
        return (spec.vendor, spec.stream, spec.key)

    # -- up front ---------------------------------------------------------------------------

    def start(self, planned: Iterable[PlannedExport], checkpoint: Checkpoint) -> None:
        """Create (or resume) every planned export within its vendor's limit."""
        planned = list(planned)
        if not planned:
            return
        LOGGER.info("Export plan: %d export(s)\n%s", len(planned), "\n".join(
            f"  - {p.spec.label}" + _plan_note(p)
            for p in planned))
        self._checkpoint = checkpoint
        for item in sorted(planned, key=lambda p: self.order(p.spec)):
            watch = _Watch(item.spec, self.runners[item.spec.vendor], item.exports, planned=True)
            self._queued.setdefault(item.spec.vendor, []).append(watch)
        for vendor in list(self._queued):
            self._fill(vendor)

    def _active(self, vendor: str) -> int:
        return sum(1 for w in self._watched.values()
                   if w.planned and w.spec.vendor == vendor and w.entry is not None)

    def _fill(self, vendor: str) -> None:
        """Create queued exports of `vendor` while it has free slots."""
        queue = self._queued.get(vendor, [])
        while queue and self._active(vendor) < self.limits.get(vendor, 1):
            watch = queue.pop(0)
            self._watched[self._key(watch.spec)] = watch
            try:
                watch.entry = watch.runner.ensure_created(watch.spec, watch.exports,
                                                          self._checkpoint)
            except TapProfileExportError as exc:  # reported by the stream that needs it
                watch.error = exc
                continue
            self._begin(watch)

    def _begin(self, watch: _Watch) -> None:
        watch.started = watch.next_check = self._clock()
        watch.interval = self.poll.initial_interval

    # -- one export, from its stream --------------------------------------------------------

    def run(self, spec: ExportSpec, exports: MutableMapping[str, Any],
            checkpoint: Checkpoint) -> Iterator[dict[str, Any]]:
        """Yield every record of `spec`'s export, resuming the one in `exports` if possible.

        `exports` is the partition state's in-flight table; `checkpoint` emits STATE. On
        return the export was read completely (the caller then moves its bookmark). A failed
        or vanished export is created again (`max_recreates` times) and never stays in state.
        """
        runner = self.runners[spec.vendor]
        key = self._key(spec)
        for queue in self._queued.values():  # its stream got there first: created now
            queue[:] = [q for q in queue if self._key(q.spec) != key]
        watch = self._watched.get(key)
        if watch is not None and watch.entry is None and watch.error is not None:
            self._watched.pop(key, None)
            raise watch.error  # creating it up front failed
        if watch is None or watch.entry is None:
            watch = self._watch(spec, runner, exports, checkpoint)
        entry = watch.entry
        assert entry is not None
        #: Exported by an earlier run: if it fails for good now, a new export is created.
        resumed = not runner.created_this_run(spec)
        recreated = failed = 0
        while True:
            LOGGER.info("%s: reading export %s (created %s, %d part(s) already read)",
                        spec.label, entry.export_id, entry.created_at, len(entry.parts_done))
            try:
                answer = self._wait(watch)
                if answer.ready:
                    yield from runner.read(spec, entry, answer.parts, exports, checkpoint)
                    return
                problem = answer.detail
                failed += answer.status is ExportStatus.FAILED
            except RecreateExport as exc:
                problem = str(exc)
            except ExportTimeoutError:
                raise  # not failed, only slow: it stays in state and the next run resumes it
            except TapProfileExportError as exc:
                if not resumed:
                    raise
                problem = f"export {entry.export_id} resumed from state failed ({exc})"
            runner.forget(spec, exports, checkpoint)
            resumed = False
            recreated += 1
            if failed >= self.split_after:
                split = self._split(spec, runner, problem, failed)
                if split is not None:
                    raise split
            if recreated > self.max_recreates:
                hint = getattr(runner.adapter, "size_hint", None)
                raise ExportFailedError(
                    f"{spec.label}: {problem} — gave up after creating {recreated} exports; "
                    f"dropped from state, the next run creates a new one"
                    + (f". If it fails for its size, export less: {hint}"
                       if hint and failed and spec.window is None else "")) from None
            LOGGER.warning("%s: %s; creating a new export (%d/%d)", spec.label, problem,
                           recreated, self.max_recreates)
            watch = self._watch(spec, runner, exports, checkpoint)
            entry = watch.entry
            assert entry is not None

    @staticmethod
    def _split(spec: ExportSpec, runner: ExportRunner, problem: str,
               failed: int) -> SplitWindow | None:
        """The halves of an event window whose export failed `failed` times (the vendors'
        answer to an export too large), or None when it cannot be split."""
        fields = getattr(runner.adapter, "window_fields", None)
        halves = halve(spec.window) if spec.window else None
        if not halves or not fields:
            return None
        specs = [spec.for_window(half, fields) for half in halves]
        LOGGER.warning("%s: failed %d times (%s); splitting it into %s", spec.label, failed,
                       problem, " and ".join(
                           f"[{to_rfc3339(a)} → {to_rfc3339(b)})" for a, b in halves))
        return SplitWindow(f"{spec.label}: split after {failed} failures", specs)

    def _watch(self, spec: ExportSpec, runner: ExportRunner, exports: MutableMapping[str, Any],
               checkpoint: Checkpoint) -> _Watch:
        """Create (or resume) an export its stream needs now and watch it."""
        watch = _Watch(spec, runner, exports, planned=False,
                       entry=runner.ensure_created(spec, exports, checkpoint))
        self._begin(watch)
        self._watched[self._key(spec)] = watch
        return watch

    # -- the poller -------------------------------------------------------------------------

    def _wait(self, watch: _Watch) -> ExportCheck:
        """Check exports in flight (earliest due first) until `watch` has its answer."""
        while not watch.done:
            pending = [w for w in self._watched.values() if not w.done and w.entry is not None]
            due = min(pending, key=lambda w: w.next_check)
            delay = due.next_check - self._clock()
            if delay > 0:
                self._sleep(delay)
                continue
            self._check(due)
            if self._throttle.ready():
                waiting = [w for w in self._watched.values() if not w.done and w.entry]
                if len(waiting) > 1:
                    LOGGER.info("Waiting for %d export(s): %s", len(waiting), "; ".join(
                        f"{w.spec.label} {w.entry.export_id if w.entry else '?'} {w.status} "
                        f"{self._clock() - w.started:.0f}s" for w in waiting))
        if self._watched.get(self._key(watch.spec)) is watch:
            self._watched.pop(self._key(watch.spec))
        self._fill(watch.spec.vendor)  # a slot is free: request the next export of this vendor
        if watch.error is not None:
            raise watch.error
        assert watch.answer is not None
        return watch.answer

    def _check(self, watch: _Watch) -> None:
        """One readiness check of one export, then its next check time (back-off, deadline)."""
        entry = watch.entry
        assert entry is not None
        try:
            answer = watch.runner.adapter.check(watch.spec, entry)
        except Exception as exc:  # handed to the stream that reads this export
            watch.error = exc
            return
        watch.checks += 1
        waited = self._clock() - watch.started
        if answer.status.terminal:
            if answer.ready:
                LOGGER.info("%s: export %s ready after %.1fs (%d checks), %d part(s)",
                            watch.spec.label, entry.export_id, waited, watch.checks,
                            len(answer.parts))
            entry.waited_seconds = round(entry.waited_seconds + waited, 1)
            watch.answer = answer
            return
        if waited >= self.poll.timeout:
            watch.error = timeout_error(watch.spec, entry, waited, self.poll.timeout,
                                        answer.detail)
            return
        wait = min(watch.interval, self.poll.timeout - waited)
        if answer.detail != watch.status:
            LOGGER.info("%s: export %s status %s, waited %.0fs, next check in %.1fs",
                        watch.spec.label, entry.export_id, answer.detail, waited, wait)
        watch.status = answer.detail
        watch.next_check = self._clock() + wait
        watch.interval = min(max(watch.interval * 2, 0.001), self.poll.max_interval)
