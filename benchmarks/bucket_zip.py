"""How to read a Braze ZIP from the customer's bucket: spooled to temp disk, or through
ranged reads of the object (zipfile over an fsspec file). Prints one table row per way.

    .venv/bin/python benchmarks/bucket_zip.py [--mb 40]

Against moto's S3 server on loopback (no network latency: range reads look better here than
against a real bucket, where each ranged request costs a round trip).
"""

from __future__ import annotations

import argparse
import io
import os
import time
import zipfile

import orjson

from sandbox.objectstore import BRAZE_BUCKET, S3Store
from tap_profile_export.readers import iter_archive_records
from tap_profile_export.storage import ObjectStore
from tap_profile_export.vendors.braze.spool import spool

KEY = "segment-export/bench/2026-06-15/prefix/file.zip"


def archive(megabytes: int) -> tuple[bytes, int]:
    """A ZIP with one NDJSON member of ~`megabytes` MB of Braze-like users."""
    user = {"braze_id": "", "external_id": "", "custom_attributes": {"tier": "gold"},
            "devices": [{"model": "Pixel", "os": "Android 14"}], "email": "u@example.com"}
    lines = []
    size = count = 0
    while size < megabytes << 20:
        user["braze_id"] = user["external_id"] = f"{count:024x}"
        user["email"] = f"{os.urandom(6).hex()}@example.com"  # zips ~4:1, like real users
        line = orjson.dumps(user) + b"\n"
        lines.append(line)
        size += len(line)
        count += 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        out.writestr("users.txt", b"".join(lines))
    return buffer.getvalue(), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=40)
    args = parser.parse_args()
    store = S3Store.shared()
    body, users = archive(args.mb)
    store.client("braze").put_object(Bucket=BRAZE_BUCKET, Key=KEY, Body=body)
    creds = store.users["tap"]
    bucket = ObjectStore("bench", f"s3://{BRAZE_BUCKET}", endpoint_url=store.endpoint_url,
                         options={"key": creds.access_key_id, "secret": creds.secret_access_key})
    print(f"{users:,} users, {args.mb} MB of NDJSON, {len(body) / 1e6:.1f} MB zipped")
    print("| way | seconds | users/s | temp disk |")
    print("|---|---|---|---|")
    bucket.open(KEY).close()  # the first request pays for the client's set-up
    for way in ("spool", "ranged", "spool", "ranged"):
        started = time.perf_counter()
        stream = bucket.open(KEY)
        if way == "spool":
            stream = spool(stream.read, len(body), None, "bench")
        count = sum(1 for _ in iter_archive_records(stream, way))
        seconds = time.perf_counter() - started
        stream.close()
        assert count == users
        disk = f"{len(body) / 1e6:.1f} MB" if way == "spool" else "0"
        print(f"| {way} | {seconds:.2f} | {users / seconds:,.0f} | {disk} |")


if __name__ == "__main__":
    main()
