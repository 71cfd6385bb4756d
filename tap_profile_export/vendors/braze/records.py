"""Braze user object → `braze_users` record (pure: no HTTP, no Singer)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tap_profile_export.schemas import BRAZE_USERS

_BRAZE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) UTC$")
TIMESTAMP_FIELDS = ("created_at", "push_opted_in_at", "uninstalled_at")
#: User fields with a column of their own; any other field is kept in `extra`.
KNOWN_FIELDS = frozenset(BRAZE_USERS["properties"]) - {"export_scope", "exported_at", "extra"}

def braze_time(value: object) -> object:
    """`2020-07-10 15:00:00.000 UTC` → `2020-07-10T15:00:00.000Z`; other values unchanged."""
    if isinstance(value, str):
        match = _BRAZE_TIME.match(value)
        if match:
            return f"{match[1]}T{match[2]}Z"
    return value


def map_user(user: Mapping[str, Any], scope: str, exported_at: str) -> dict[str, Any]:
    """A Braze user object → `braze_users` record (unknown fields kept in `extra`)."""
    record = dict(user)
    if record.keys() <= KNOWN_FIELDS:  # the common case: no set built per user
        record["extra"] = None
    else:
        record["extra"] = {name: record.pop(name) for name in record.keys() - KNOWN_FIELDS}
    for name in TIMESTAMP_FIELDS:
        value = record.get(name)
        if value is not None:
            record[name] = braze_time(value)
    record["export_scope"] = scope
    record["exported_at"] = exported_at
    return record
