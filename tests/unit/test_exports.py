"""The export lifecycle (coordinator + runner) against a scripted in-memory adapter: back-off,
deadline, resume, interrupted downloads, bounded re-creation."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import pytest
import requests

from tap_profile_export.errors import ExportFailedError, ExportTimeoutError, VendorHTTPError
from tap_profile_export.exports import (
    ExportCheck,
    ExportCoordinator,
    ExportPart,
    ExportRunner,
    ExportSpec,
    ExportStatus,
    InFlightExport,
    PlannedExport,
)
from tap_profile_export.settings import PollSettings

SPEC = ExportSpec("fake", "events", "events", scope="s")
POLL = PollSettings(1, 8, 100)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class FlakyStream(io.RawIOBase):
    """Serves `data`, raising a connection error once after `fail_at` bytes."""

    def __init__(self, data: bytes, fail_at: int | None) -> None:
        self._data, self._pos, self._fail_at = data, 0, fail_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_at is not None and self._pos >= self._fail_at:
            raise requests.exceptions.ChunkedEncodingError("connection reset")
        end = len(self._data) if self._fail_at is None else self._fail_at
        chunk = self._data[self._pos:min(end, self._pos + 7)]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


class FakeAdapter:
    vendor = "fake"

    def __init__(self, ready_after: int = 0, parts: int = 2, rows: int = 5) -> None:
        self.ready_after = ready_after
        self.checks = 0
        self.created: list[str] = []
        self.rows = rows
        self.parts = [ExportPart(key=f"f{i}", label=f"part {i}/{parts}") for i in range(1, parts + 1)]
        self.fail_once_at: dict[str, int] = {}
        self.recreate_on_check = 0
        self.opened: list[str] = []
        self.cut: dict[str, int] = {}  # part key → times it is served cut short (cleanly)

    def create(self, spec: ExportSpec) -> dict[str, Any]:
        self.created.append(spec.key)
        return {"export_id": f"x{len(self.created)}"}

    def check(self, spec: ExportSpec, entry: InFlightExport) -> ExportCheck:
        self.checks += 1
        if self.recreate_on_check:
            self.recreate_on_check -= 1
            return ExportCheck(ExportStatus.GONE, "gone (HTTP 404)")
        if self.checks <= self.ready_after:
            return ExportCheck(ExportStatus.RUNNING, "RUNNING")
        return ExportCheck(ExportStatus.READY, "SUCCESS", self.parts)

    @contextmanager
    def open_part(self, spec: ExportSpec, entry: InFlightExport,
                  part: ExportPart) -> Iterator[IO[bytes]]:
        self.opened.append(part.key)
        data = b"".join(b"%s-%d\n" % (part.key.encode(), i) for i in range(self.rows))
        if self.cut.get(part.key):
            self.cut[part.key] -= 1
            yield io.BytesIO(data[:len(data) // 2 // 5 * 5])  # ends at a line boundary
            return
        yield FlakyStream(data, self.fail_once_at.pop(part.key, None))  # type: ignore[misc]

    def read_part(self, spec: ExportSpec, entry: InFlightExport, stream: IO[bytes],
                  source: str) -> Iterator[dict[str, Any]]:
        for line in io.BufferedReader(stream):  # type: ignore[arg-type]
            yield {"id": line.strip().decode()}

    def resume_problem(self, spec: ExportSpec, entry: InFlightExport) -> str | None:
        return None


def coordinator(adapter: FakeAdapter, clock: FakeClock, poll: PollSettings = POLL,
                **runner: Any) -> ExportCoordinator:
    """Nothing planned up front: the coordinator waits for one export at a time."""
    runners = {"fake": ExportRunner(adapter, sleep=clock.sleep, **runner)}  # type: ignore[arg-type]
    return ExportCoordinator(poll, runners, {}, sleep=clock.sleep, clock=clock)


def run(adapter: FakeAdapter, exports: dict[str, Any] | None = None,
        poll: PollSettings = POLL) -> tuple[list[str], FakeClock, list[str]]:
    clock = FakeClock()
    checkpoints: list[str] = []
    exports = {} if exports is None else exports
    records = [r["id"] for r in coordinator(adapter, clock, poll).run(
        SPEC, exports, lambda: checkpoints.append(repr(exports)))]
    return records, clock, checkpoints


def test_waits_with_doubling_backoff_capped() -> None:
    records, clock, _ = run(FakeAdapter(ready_after=6))
    assert clock.sleeps == [1, 2, 4, 8, 8, 8]
    assert records == [f"f{p}-{i}" for p in (1, 2) for i in range(5)]


def test_deadline_names_export_and_wait() -> None:
    with pytest.raises(ExportTimeoutError, match=r"fake events export \(s\): export x1 not ready "
                                                 r"after 10s \(poll.timeout_seconds=10"):
        run(FakeAdapter(ready_after=1000), poll=PollSettings(1, 4, 10))


def test_checkpoint_after_create_and_each_part() -> None:
    exports: dict[str, Any] = {}
    _, _, checkpoints = run(FakeAdapter(), exports)
    assert len(checkpoints) == 3
    assert "'parts_done': []" in checkpoints[0] and "x1" in checkpoints[0]
    assert "'parts_done': ['f1', 'f2']" in checkpoints[2]


def test_resume_skips_parts_already_read_and_creates_nothing() -> None:
    adapter = FakeAdapter()
    exports = {SPEC.key: {"handle": {"export_id": "old"}, "parts_done": ["f1"],
                          "created_at": "2025-01-01T00:00:00Z"}}
    records, _, _ = run(adapter, exports)
    assert adapter.created == [] and adapter.opened == ["f2"]
    assert records == [f"f2-{i}" for i in range(5)]


def test_interrupted_download_is_reopened_without_duplicates() -> None:
    adapter = FakeAdapter(rows=10)
    adapter.fail_once_at = {"f1": 30}
    records, _, _ = run(adapter)
    assert adapter.opened == ["f1", "f1", "f2"]
    assert records == [f"f{p}-{i}" for p in (1, 2) for i in range(10)]


def test_recreate_is_bounded() -> None:
    adapter = FakeAdapter()
    adapter.recreate_on_check = 2
    records, _, _ = run(adapter)
    assert len(adapter.created) == 3 and len(records) == 10
    adapter = FakeAdapter()
    adapter.recreate_on_check = 10
    with pytest.raises(ExportFailedError, match="gave up after creating 4 exports"):
        run(adapter)


def sized(adapter: FakeAdapter) -> FakeAdapter:
    """Parts whose size the vendor states (like Batch `files[].size`)."""
    for part in adapter.parts:
        part.expected_bytes = sum(len(b"%s-%d\n" % (part.key.encode(), i))
                                  for i in range(adapter.rows))
    return adapter


def test_part_cut_short_of_its_stated_size_is_read_again() -> None:
    adapter = sized(FakeAdapter(rows=10))
    adapter.cut = {"f1": 1}
    records, _, _ = run(adapter)
    assert adapter.opened == ["f1", "f1", "f2"]
    assert records == [f"f{p}-{i}" for p in (1, 2) for i in range(10)]


def test_part_always_cut_short_fails_naming_it_and_is_never_marked_done() -> None:
    adapter = sized(FakeAdapter(rows=10))
    adapter.cut = {"f2": 100}
    exports: dict[str, Any] = {}
    with pytest.raises(VendorHTTPError, match=r"part 2/2: download failed 4 times.*ended after "
                                              r"\d+ of the 50 bytes"):
        run(adapter, exports)
    assert exports[SPEC.key]["parts_done"] == ["f1"]


def test_a_single_missing_byte_is_caught() -> None:
    adapter = sized(FakeAdapter(rows=3))
    adapter.parts[0].expected_bytes = (adapter.parts[0].expected_bytes or 0) + 1
    with pytest.raises(VendorHTTPError, match="part 1/2"):
        run(adapter)
    adapter = sized(FakeAdapter(rows=3))
    records, _, _ = run(adapter)
    assert len(records) == 6


def test_exports_given_up_on_leave_state() -> None:
    adapter = FakeAdapter()
    adapter.recreate_on_check = 10
    exports: dict[str, Any] = {}
    with pytest.raises(ExportFailedError, match="dropped from state"):
        run(adapter, exports)
    assert exports == {}


def test_resumed_export_that_fails_for_good_is_created_again() -> None:
    adapter = FakeAdapter()
    adapter.fail_once_at = {"f2": 3}
    exports = {SPEC.key: {"handle": {"export_id": "old"}, "parts_done": ["f1"],
                          "created_at": "2025-01-01T00:00:00Z"}}
    clock = FakeClock()
    runner = coordinator(adapter, clock, max_part_attempts=1)
    records = [r["id"] for r in runner.run(SPEC, exports, lambda: None)]
    assert adapter.created == [SPEC.key]  # the resumed export failed: one new export
    assert records[-10:] == [f"f{p}-{i}" for p in (1, 2) for i in range(5)]
    assert exports[SPEC.key]["handle"] == {"export_id": "x1"}


def test_new_export_that_fails_stays_for_the_next_run_to_resume() -> None:
    adapter = FakeAdapter()
    adapter.fail_once_at = {"f2": 3}
    exports: dict[str, Any] = {}
    clock = FakeClock()
    runner = coordinator(adapter, clock, max_part_attempts=1)
    with pytest.raises(Exception, match="download failed"):
        list(runner.run(SPEC, exports, lambda: None))
    assert exports[SPEC.key]["parts_done"] == ["f1"]


#: An in-flight entry as taps before the typed state wrote it (no `version` key).
OLD_ENTRY = {"vendor": "batch", "kind": "events", "created_at": "2025-01-01T00:00:00Z",
             "handle": {"export_id": "e1", "vendor_created_at": "2024-12-31T23:59:58Z"},
             "parts_done": ["p1"], "window": ["2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z"],
             "waited_seconds": 12.5}


def test_old_state_without_version_loads_typed() -> None:
    entry = InFlightExport.from_json(OLD_ENTRY)
    assert (entry.export_id, entry.vendor, entry.kind) == ("e1", "batch", "events")
    assert entry.vendor_created_at == "2024-12-31T23:59:58Z" and entry.handle == {}
    assert entry.parts_done == ["p1"] and entry.waited_seconds == 12.5
    assert entry.window == ("2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z")
    assert entry.created.isoformat() == "2024-12-31T23:59:58+00:00"  # the vendor's clock
    # Written back in the same layout, now with a version.
    assert entry.to_json() == {**OLD_ENTRY, "version": 1}
    assert InFlightExport.from_json(entry.to_json()) == entry
    # Older still: the id under `id`, no vendor time, no kind.
    legacy = InFlightExport.from_json({"handle": {"id": "x9", "poll_url": "u"},
                                       "created_at": "2025-01-01T00:00:00Z"})
    assert legacy.export_id == "x9" and legacy.handle == {"poll_url": "u"}
    assert legacy.created.isoformat() == "2025-01-01T00:00:00+00:00"


def test_state_from_a_newer_tap_is_refused() -> None:
    with pytest.raises(ValueError, match="version 2 is newer"):
        InFlightExport.from_json({**OLD_ENTRY, "version": 2})


def test_old_state_resumes_through_the_runner() -> None:
    adapter = FakeAdapter()
    exports: dict[str, Any] = {SPEC.key: {**OLD_ENTRY, "parts_done": ["f1"]}}
    records, _, _ = run(adapter, exports)
    assert adapter.created == [] and records == [f"f2-{i}" for i in range(5)]
    assert exports[SPEC.key]["version"] == 1 and exports[SPEC.key]["parts_done"] == ["f1", "f2"]


def test_planned_exports_are_created_up_front_within_the_limit_and_waited_for_together(
        ) -> None:
    adapter = FakeAdapter(ready_after=4, parts=1, rows=1)
    clock = FakeClock()
    runners = {"fake": ExportRunner(adapter, sleep=clock.sleep)}  # type: ignore[arg-type]
    waiting = ExportCoordinator(POLL, runners, {"fake": 2}, sleep=clock.sleep, clock=clock)
    specs = [ExportSpec("fake", "events", "events", scope=f"s{i}") for i in range(3)]
    exports: dict[str, Any] = {}
    waiting.start([PlannedExport(spec, exports) for spec in specs], lambda: None)
    assert adapter.created == [specs[0].key, specs[1].key]  # the limit: 2 at a time
    records = [r["id"] for spec in specs for r in waiting.run(spec, exports, lambda: None)]
    assert adapter.created == [spec.key for spec in specs] and len(records) == 3
    # Both first exports were checked while the first one was awaited (checks 1-4 answer
    # RUNNING: both at 0s and 1s; both ready at 3s); the third is ready at its first check.
    assert clock.sleeps == [1, 2] and adapter.checks == 7
