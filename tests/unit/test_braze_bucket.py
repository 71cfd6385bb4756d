"""The completion rule for Braze exports in the customer's bucket, edge by edge, against a real
S3 API (moto's server) and a clock the test moves: complete only when the set of files has
been unchanged for `settle_seconds` over two checks; files arriving after that are caught by
the listing after the read, and a pause longer than both is the documented risk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.objectstore import BRAZE_BUCKET, S3Store
from tap_profile_export.exports import ExportSpec, ExportStatus, InFlightExport
from tap_profile_export.vendors.braze.bucket import BucketExports
from tap_profile_export.vendors.braze.settings import StorageSettings

SPEC = ExportSpec("braze", "braze_users", "segment", scope="segment:seg-alpha")
GCG = ExportSpec("braze", "braze_users", "global_control_group", scope="global_control_group")
PREFIX = "0b1c2d3e-0000-4000-8000-000000000001-1781524800"
FOLDER = f"segment-export/seg-alpha/2026-06-15/{PREFIX}"


@pytest.fixture
def store() -> Iterator[S3Store]:
    yield S3Store.shared()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exports(store: S3Store, clock: Clock, settle: float = 60) -> BucketExports:
    creds = store.users["tap"]
    settings = StorageSettings(url=f"s3://{BRAZE_BUCKET}", endpoint_url=store.endpoint_url,
                               settle_seconds=settle,
                               aws_access_key_id=creds.access_key_id,
                               aws_secret_access_key=creds.secret_access_key)
    return BucketExports(settings, None, clock=clock)


def entry_for(bucket: BucketExports, spec: ExportSpec) -> InFlightExport:
    return InFlightExport.new(spec, bucket.handle(spec, PREFIX), "2026-06-15T11:00:00Z")


def put(store: S3Store, key: str, body: bytes = b"x") -> None:
    store.client("braze").put_object(Bucket=BRAZE_BUCKET, Key=key, Body=body)


def test_complete_only_after_the_files_stop_changing(store: S3Store) -> None:
    clock = Clock()
    bucket = exports(store, clock)
    entry = entry_for(bucket, SPEC)
    assert bucket.check(SPEC, entry).detail == "NO FILES YET"
    put(store, f"{FOLDER}/a.zip")
    assert bucket.check(SPEC, entry).detail == "UPLOADING (1 file(s) so far)"
    clock.now += 59
    assert bucket.check(SPEC, entry).detail == "SETTLING (1 file(s))"
    put(store, f"{FOLDER}/b.zip")  # a second file just before the deadline starts it over
    clock.now += 2
    assert bucket.check(SPEC, entry).status is ExportStatus.PENDING
    clock.now += 59
    assert bucket.check(SPEC, entry).status is ExportStatus.PENDING
    clock.now += 1
    ready = bucket.check(SPEC, entry)
    assert ready.ready
    assert [p.key for p in ready.parts] == [f"{FOLDER}/a.zip", f"{FOLDER}/b.zip"]
    assert ready.parts[0].label == f"s3://{BRAZE_BUCKET}/{FOLDER}/a.zip"
    # Settled is remembered in the entry: a resumed run does not wait again.
    assert entry.handle["settled"] is True
    assert exports(store, clock).check(SPEC, entry).ready


def test_a_file_rewritten_with_another_size_is_a_change(store: S3Store) -> None:
    clock = Clock()
    bucket = exports(store, clock)
    entry = entry_for(bucket, SPEC)
    put(store, f"{FOLDER}/a.gz", b"x")
    bucket.check(SPEC, entry)
    clock.now += 61
    put(store, f"{FOLDER}/a.gz", b"xyz")
    assert bucket.check(SPEC, entry).status is ExportStatus.PENDING


def test_late_files_are_found_after_reading_and_long_pauses_are_the_risk(
        store: S3Store) -> None:
    clock = Clock()
    bucket = exports(store, clock, settle=10)
    entry = entry_for(bucket, SPEC)
    put(store, f"{FOLDER}/a.zip")
    bucket.check(SPEC, entry)
    clock.now += 10
    ready = bucket.check(SPEC, entry)
    assert [p.label.rsplit("/", 1)[-1] for p in ready.parts] == ["a.zip"]
    put(store, f"{FOLDER}/b.zip")  # Braze paused longer than settle_seconds, then went on
    late = bucket.late_parts(entry, ready.parts)
    assert [p.key for p in late] == [f"{FOLDER}/b.zip"]
    assert bucket.late_parts(entry, ready.parts + late) == []


def test_only_this_exports_folder_is_read(store: S3Store) -> None:
    """Older exports of the segment, other segments, folders before the export's day."""
    clock = Clock()
    bucket = exports(store, clock, settle=0)
    put(store, "segment-export/seg-alpha/2026-06-15/older-uuid-1781438400/old.zip")
    put(store, "segment-export/seg-beta/2026-06-15/other-uuid-1781524800/beta.zip")
    put(store, f"segment-export/seg-alpha/2026-06-12/{PREFIX}/stale.zip")  # before creation
    put(store, f"segment-export/seg-alpha/2026-06-16/{PREFIX}/next-day.zip")
    entry = entry_for(bucket, SPEC)
    assert [o.key.rsplit("/", 1)[-1] for o in bucket.files(entry)] == ["next-day.zip"]


def test_the_control_groups_folder_is_found_and_remembered(store: S3Store) -> None:
    clock = Clock()
    bucket = exports(store, clock, settle=0)
    put(store, "segment-export/seg-beta/2026-06-15/other-uuid-1781524800/beta.zip")
    put(store, f"segment-export/cg-segment-id/2026-06-15/{PREFIX}/cg.zip")
    entry = entry_for(bucket, GCG)
    assert "segment_folder" not in entry.handle
    assert [o.key for o in bucket.files(entry)] == [
        f"segment-export/cg-segment-id/2026-06-15/{PREFIX}/cg.zip"]
    assert entry.handle["segment_folder"] == "segment-export/cg-segment-id"


def test_a_changed_bucket_is_not_resumed(store: S3Store) -> None:
    bucket = exports(store, Clock())
    entry = entry_for(bucket, SPEC)
    assert bucket.resume_problem(entry) is None
    entry.handle["bucket"] = "s3://another-bucket"
    assert bucket.resume_problem(entry) == "braze.storage.url changed since it was started"
