"""Deterministic synthetic vendor data, written straight to disk (exports can be large)."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

REACHABILITY_REASONS = (
    "EMAIL_ADDRESS_ADDED", "EMAIL_ADDRESS_REMOVED", "EMAIL_MARKETING_SUBSCRIBED",
    "EMAIL_MARKETING_UNSUBSCRIBED", "PHONE_NUMBER_ADDED", "PHONE_NUMBER_REMOVED",
    "SMS_MARKETING_SUBSCRIBED", "SMS_MARKETING_UNSUBSCRIBED", "PUSH_OPTIN", "PUSH_OPTOUT",
    "INSTALLATION_ADDED", "INSTALLATION_REMOVED", "PROFILE_DELETED",
)
EVENT_NAMES = ("e.purchase", "e.login", "e.view_item")
LANGUAGES = ("en", "fr", "de", "es")
TIERS = ("bronze", "silver", "gold")


def rfc3339(value: datetime) -> str:
    """UTC timestamp with a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))")


def parse_rfc3339(value: object) -> datetime:
    """Parse an RFC 3339 date-time strictly (the vendors' reading): a full date, `T`, a full
    time, optional fraction and a mandatory offset (`Z` or `±hh:mm`). Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int((fraction + "000000")[:6]) if fraction else 0
    if match.group(8):
        tz = timezone.utc
    else:
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if offset >= timedelta(hours=24):
            raise ValueError(f"offset out of range: {value!r}")
        tz = timezone(offset if match.group(9) == "+" else -offset)
    return datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz
                    ).astimezone(timezone.utc)


def evenly_spaced(count: int, start: datetime, days: float) -> Iterator[tuple[int, datetime]]:
    """`count` instants from `start` (included, a whole-day boundary) spread over `days`."""
    step = timedelta(days=days) / max(count, 1)
    for k in range(count):
        yield k, start + step * k


def arrival_delay(seed: int, key: str, late_minutes: float) -> timedelta:
    """How long after its timestamp event `key` reaches the vendor: for about one event in
    three, up to `late_minutes` (offline devices, retries); others at once. Fixed per seed."""
    if late_minutes <= 0:
        return timedelta(0)
    n = int.from_bytes(hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest(), "big")
    return timedelta(0) if n % 3 else timedelta(minutes=late_minutes * ((n >> 8) % 1000) / 999)


def write_parts(directory: Path, stem: str, lines: Iterable[bytes], *, per_part: int,
                compress: bool, as_array: bool = False) -> list[Path]:
    """Write NDJSON (or JSON-array) parts of `per_part` lines; gzip level 1 when `compress`."""
    paths: list[Path] = []
    handle: Any = None
    count = 0

    def open_part() -> Any:
        path = directory / f"{stem}-{len(paths) + 1}.json{'.gz' if compress else ''}"
        paths.append(path)
        raw = path.open("wb")
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compress \
            else raw

    def close(h: Any) -> None:
        if as_array:
            h.write(b"]")
        fileobj = getattr(h, "fileobj", None)
        h.close()
        if fileobj is not None:
            fileobj.close()

    for line in lines:
        if handle is None or count == per_part:
            if handle is not None:
                close(handle)
            handle, count = open_part(), 0
            if as_array:
                handle.write(b"[")
        if as_array:
            handle.write((b"," if count else b"") + line + b"\n")
        else:
            handle.write(line + b"\n")
        count += 1
    if handle is not None:
        close(handle)
    return paths


def dumps(value: Any) -> bytes:
    """Compact JSON."""
    return orjson.dumps(value)
