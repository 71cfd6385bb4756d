"""Readers: gzip sniffing, NDJSON, JSON arrays, and typed errors naming part and line."""

from __future__ import annotations

import gzip
import io

import orjson
import pytest

from tap_profile_export.errors import InvalidJSONError, ReaderError, TruncatedInputError
from tap_profile_export.readers import iter_object_items, iter_records

ROWS = [{"identifiers": {"profile_id": f"p{i}"}, "n": i, "nested": {"a": [1, 2]}}
        for i in range(50)]


def ndjson(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_ndjson_round_trip(compress: bool) -> None:
    data = ndjson(ROWS)
    if compress:
        data = gzip.compress(data)
    assert list(iter_records(io.BytesIO(data), "part 1")) == ROWS


def test_gzip_detected_by_magic_not_name_and_multi_member() -> None:
    data = gzip.compress(ndjson(ROWS[:10])) + gzip.compress(ndjson(ROWS[10:]))
    assert list(iter_records(io.BytesIO(data), "part 1")) == ROWS


def test_json_array_is_read_the_same_way() -> None:
    data = b"  \n" + orjson.dumps(ROWS)
    assert list(iter_records(io.BytesIO(gzip.compress(data)), "part 1")) == ROWS


def test_blank_lines_and_missing_final_newline() -> None:
    data = ndjson(ROWS[:3]) + b"\n\n" + orjson.dumps(ROWS[3])
    assert list(iter_records(io.BytesIO(data), "p")) == ROWS[:4]


def test_malformed_line_names_source_and_line() -> None:
    lines = ndjson(ROWS[:5]).splitlines(keepends=True)
    lines[2] = b'{"identifiers": {"profile_id": \n'
    got = []
    with pytest.raises(InvalidJSONError) as info:
        got.extend(iter_records(io.BytesIO(b"".join(lines)), "batch export e1 part 2 (f2)"))
    assert got == ROWS[:2]
    assert info.value.line == 3
    assert "batch export e1 part 2 (f2), line 3" in str(info.value)


def test_truncated_gzip_is_an_error_not_a_short_read() -> None:
    data = gzip.compress(ndjson(ROWS))
    with pytest.raises(TruncatedInputError, match=r"part 3.*truncated"):
        list(iter_records(io.BytesIO(data[: len(data) // 2]), "part 3"))


def test_corrupt_gzip_is_a_reader_error() -> None:
    data = bytearray(gzip.compress(ndjson(ROWS)))
    data[20:40] = b"\x00" * 20
    with pytest.raises(ReaderError, match="part 4"):
        list(iter_records(io.BytesIO(bytes(data)), "part 4"))


def test_cut_off_last_line_of_plain_file_is_reported() -> None:
    data = ndjson(ROWS[:3])[:-10]
    with pytest.raises(InvalidJSONError, match="line 3: line is cut off"):
        list(iter_records(io.BytesIO(data), "part 1"))


def test_non_object_line_is_rejected() -> None:
    with pytest.raises(InvalidJSONError, match="line 2: expected a JSON object"):
        list(iter_records(io.BytesIO(b'{"a": 1}\n[1, 2]\n'), "part 1"))


def test_truncated_json_array_reports_offset() -> None:
    data = orjson.dumps(ROWS)[:-30]
    with pytest.raises(InvalidJSONError, match="byte offset"):
        list(iter_records(io.BytesIO(data), "part 1"))


def test_empty_file_gives_no_records() -> None:
    assert list(iter_records(io.BytesIO(b""), "p")) == []
    assert list(iter_records(io.BytesIO(gzip.compress(b"")), "p")) == []


def test_object_items_streams_a_dictionary() -> None:
    doc = {"profiles": {f"k{i}": {"sections": {"s": {"n": i}}} for i in range(5)},
           "metadata": {}}
    data = gzip.compress(orjson.dumps(doc))
    assert dict(iter_object_items(io.BytesIO(data), "f", "profiles")) == doc["profiles"]


def test_object_items_truncated_document() -> None:
    data = orjson.dumps({f"k{i}": {"v": i} for i in range(100)})[:-50]
    with pytest.raises(InvalidJSONError, match="apsis file"):
        list(iter_object_items(io.BytesIO(data), "apsis file"))
