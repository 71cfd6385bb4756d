"""Braze users → records; archives read member by member with errors naming the member."""

from __future__ import annotations

import gzip
import io
import zipfile

import orjson
import pytest

from tap_profile_export.errors import ReaderError
from tap_profile_export.readers import iter_archive_records
from tap_profile_export.vendors.braze.records import braze_time, map_user

USERS = [{"braze_id": f"{i:024x}", "external_id": f"u{i}",
          "created_at": "2020-07-10 15:00:00.000 UTC", "custom_attributes": {"tier": i},
          "devices": [{"model": "x"}]} for i in range(1, 8)]


def ndjson(users: list[dict]) -> bytes:
    return b"".join(orjson.dumps(u) + b"\n" for u in users)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_map_user_converts_timestamps_and_keeps_unknown_fields() -> None:
    record = map_user({**USERS[0], "new_field": 1}, "segment:s1", "2025-01-01T00:00:00Z")
    assert record["created_at"] == "2020-07-10T15:00:00.000Z"
    assert record["export_scope"] == "segment:s1" and record["extra"] == {"new_field": 1}
    assert record["custom_attributes"] == {"tier": 1} and record["devices"] == [{"model": "x"}]


def test_braze_time_leaves_other_values() -> None:
    assert braze_time("2020-07-10T15:00:00Z") == "2020-07-10T15:00:00Z"
    assert braze_time(None) is None


def test_zip_members_any_name_empty_skipped() -> None:
    data = zip_bytes({"a.json": ndjson(USERS[:3]), "empty.txt": b"",
                      "b.txt": ndjson(USERS[3:])})
    assert list(iter_archive_records(io.BytesIO(data), "braze")) == USERS


def test_gzip_body_is_read_too() -> None:
    assert list(iter_archive_records(io.BytesIO(gzip.compress(ndjson(USERS))), "braze")) == USERS


def test_truncated_zip_names_the_archive() -> None:
    data = zip_bytes({"a.json": ndjson(USERS)})
    with pytest.raises(ReaderError, match=r"segment:s1.*ZIP"):
        list(iter_archive_records(io.BytesIO(data[: len(data) // 2]), "braze segment:s1"))


def test_corrupt_member_names_the_member() -> None:
    payload = ndjson(USERS * 50)
    data = bytearray(zip_bytes({"a.json": b"{}\n", "b.json": payload}))
    start = data.index(b"b.json") + 20
    data[start:start + 40] = b"\xff" * 40
    with pytest.raises(ReaderError, match=r"member b\.json"):
        list(iter_archive_records(io.BytesIO(bytes(data)), "braze segment:s1"))
