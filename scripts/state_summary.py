"""Summarise Meltano's stored state (`meltano state get <id>` on stdin) without its secrets.

Prints, per stream and partition, the bookmark and the keys of in-flight exports (kind and
window). Export handles (ids, APSIS poll URLs, Braze pre-signed URLs) are never printed.
"""

from __future__ import annotations

import json
import sys


def summary(stored: dict) -> list[str]:
    """One line per stream partition."""
    state = stored.get("singer_state", stored)
    lines = []
    for stream, value in sorted((state.get("bookmarks") or {}).items()):
        for partition in value.get("partitions") or [value]:
            context = partition.get("context") or {}
            where = ", ".join(f"{k}={v}" for k, v in context.items()) or "-"
            in_flight = sorted(partition.get("exports") or {})
            bookmark = partition.get("replication_key_value") or "-"
            lines.append(f"{stream:<20} {where:<34} bookmark {bookmark:<22} "
                         f"in flight: {', '.join(in_flight) or 'none'}")
    return lines


def main() -> int:
    """Read the JSON on stdin, print the summary."""
    text = sys.stdin.read().strip()
    if not text:
        print("no state stored yet")
        return 0
    print("\n".join(summary(json.loads(text))) or "no bookmarks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
