"""Property-based: truncated or corrupted inputs give every record or a typed error, never a
silently different result."""

from __future__ import annotations

import gzip
import io
import zipfile

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tap_profile_export.errors import ReaderError
from tap_profile_export.readers import iter_object_items, iter_records
from tap_profile_export.vendors.braze import _iter_archive

RECORDS = st.lists(st.fixed_dictionaries({
    "id": st.integers(0, 10**9), "name": st.text(max_size=20),
    "nested": st.dictionaries(st.text(max_size=5), st.integers(-(2**62), 2**62), max_size=3)}),
    min_size=1, max_size=40)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def ndjson(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def read(reader, data: bytes) -> tuple[list, BaseException | None]:  # type: ignore[no-untyped-def]
    got: list = []
    try:
        got.extend(reader(io.BytesIO(data)))
    except ReaderError as exc:
        return got, exc
    return got, None


@SETTINGS
@given(RECORDS, st.floats(0, 1, exclude_max=True))
def test_truncated_gzip_is_always_detected(records: list[dict], fraction: float) -> None:
    data = gzip.compress(ndjson(records))
    got, error = read(lambda f: iter_records(f, "p"), data[: int(len(data) * fraction)])
    assert error is not None or (got == [] and int(len(data) * fraction) == 0)


@SETTINGS
@given(RECORDS, st.integers(0, 10**6), st.integers(1, 255))
def test_corrupted_gzip_gives_all_records_or_an_error(records: list[dict], position: int,
                                                      xor: int) -> None:
    data = bytearray(gzip.compress(ndjson(records)))
    data[position % len(data)] ^= xor
    got, error = read(lambda f: iter_records(f, "p"), bytes(data))
    assert error is not None or got == records


@SETTINGS
@given(RECORDS, st.floats(0, 1))
def test_truncated_plain_ndjson_never_invents_records(records: list[dict],
                                                      fraction: float) -> None:
    # Plain files carry no checksum: completeness is enforced by HTTP Content-Length. What the
    # reader guarantees is that a cut line is an error and whole lines are read exactly.
    data = ndjson(records)
    cut = data[: int(len(data) * fraction)]
    got, error = read(lambda f: iter_records(f, "p"), cut)
    complete = cut.count(b"\n")
    assert got == records[: len(got)]  # nothing invented, nothing altered, nothing skipped
    assert complete <= len(got) <= complete + 1  # a cut-off last line is whole or an error
    assert error is None or len(got) == complete


@SETTINGS
@given(RECORDS, st.floats(0, 1, exclude_max=True))
def test_truncated_json_document_is_detected(records: list[dict], fraction: float) -> None:
    document = orjson.dumps({f"k{i}": r for i, r in enumerate(records)})
    cut = document[: int(len(document) * fraction)]
    got, error = read(lambda f: iter_object_items(f, "doc"), cut)
    assert error is not None or cut.strip() == b""
    assert len(got) < len(records)


def _zip(records: list[dict]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.json", ndjson(records[: len(records) // 2]))
        archive.writestr("b.txt", ndjson(records[len(records) // 2:]))
    return buffer.getvalue()


@SETTINGS
@given(RECORDS, st.floats(0, 1, exclude_max=True))
def test_truncated_zip_is_detected(records: list[dict], fraction: float) -> None:
    data = _zip(records)
    _, error = read(lambda f: _iter_archive(f, "zip"), data[: int(len(data) * fraction)])
    assert error is not None


@SETTINGS
@given(RECORDS, st.integers(0, 10**6), st.integers(1, 255))
# A flipped bit in the central directory's offset field: the member's offset turns negative.
@example(records=[{"id": 0, "name": "", "nested": {}}], position=223, xor=1)
def test_corrupted_zip_gives_all_records_or_an_error(records: list[dict], position: int,
                                                     xor: int) -> None:
    data = bytearray(_zip(records))
    data[position % len(data)] ^= xor
    got, error = read(lambda f: _iter_archive(f, "zip"), bytes(data))
    assert error is not None or got == records
