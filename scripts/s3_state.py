"""Checks of Meltano's S3 state backend against the sandbox's S3 API (`scripts/demo.sh
--warehouse-tests`), read from the bucket directly, not through Meltano.

    python scripts/s3_state.py env <sandbox.log> <user>     # NAME=value lines: AWS_* + endpoint
    python scripts/s3_state.py object <sandbox.log> <state uri> <state id>
        # the stored state object's key (checked: one object at <prefix>/<state id>/state.json)
        # on stderr, its JSON on stdout
    python scripts/s3_state.py resumed <state.json> <meltano-run.log>
        # every bookmark of the stored state was a starting bookmark of the run's tap

Exit status 1 with a message on any failure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STARTING = re.compile(r"Starting incremental sync of '(\w+)' with bookmark value: (\S+)")


def sandbox_s3(log: str) -> dict[str, Any]:
    """The `s3={json}` line `python -m sandbox --s3-port` printed."""
    for line in Path(log).read_text().splitlines():
        if line.startswith("s3="):
            return dict(json.loads(line[3:]))
    raise SystemExit(f"{log}: no s3= line (was the sandbox started with --s3-port?)")


def user_env(log: str, user: str) -> dict[str, str]:
    """`user`'s AWS environment and the endpoint, as a process acting as that user gets them."""
    s3 = sandbox_s3(log)
    return {**s3["users"][user], "AWS_ENDPOINT_URL_S3": s3["endpoint_url"]}


def stored_object(log: str, uri: str, state_id: str) -> tuple[str, dict[str, Any]]:
    """The one state object under the backend's prefix (the admin's view) and its JSON."""
    import boto3  # the tap's dev venv has it; imported here so `env` needs nothing

    env = user_env(log, "admin")
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          region_name=env["AWS_DEFAULT_REGION"])
    parts = urlsplit(uri)
    prefix = parts.path.strip("/")
    listed = client.list_objects_v2(Bucket=parts.netloc, Prefix=f"{prefix}/")
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    expected = f"{prefix}/{state_id}/state.json"
    if keys != [expected]:
        raise SystemExit(f"s3://{parts.netloc}/{prefix}/: expected only {expected}, found {keys}")
    body = client.get_object(Bucket=parts.netloc, Key=expected)["Body"].read()
    return expected, dict(json.loads(body))


def bookmarks(stored: dict[str, Any]) -> set[tuple[str, str]]:
    """(stream, bookmark) of every partition with one. `stored` is the backend's object
    (`{"completed": {"singer_state": …}, "partial": …}`) or `meltano state get`'s output."""
    state = stored.get("completed") or stored
    state = state.get("singer_state", state)
    return {(stream, partition["replication_key_value"])
            for stream, value in (state.get("bookmarks") or {}).items()
            for partition in value.get("partitions") or [value]
            if partition.get("replication_key_value")}


def main(argv: list[str]) -> int:
    """Run one check (see the module doc)."""
    command, *args = argv
    if command == "env":
        print("\n".join(f"{k}={v}" for k, v in user_env(*args).items()))
    elif command == "object":
        key, stored = stored_object(*args)
        if not bookmarks(stored):
            raise SystemExit(f"{key}: the stored state has no bookmark")
        print(f"    s3://{urlsplit(args[1]).netloc}/{key}", file=sys.stderr)
        print(json.dumps(stored))
    elif command == "resumed":
        state_path, log = args
        expected = bookmarks(json.loads(Path(state_path).read_text()))
        started = set(STARTING.findall(Path(log).read_text()))
        missing = expected - started
        if not expected or missing:
            raise SystemExit(f"the tap did not start from the stored bookmark(s) {sorted(missing)}"
                             f" (it started from {sorted(started)})")
        print(f"    the tap started from the {len(expected)} stored bookmark(s)")
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
