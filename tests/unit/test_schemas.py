"""Column shapes the warehouse sees: what a SQL target derives from the stream schemas."""

from __future__ import annotations

import pytest

from tap_profile_export import schemas

STREAMS = {"profiles": schemas.PROFILES, "events": schemas.EVENTS,
           "reachability_events": schemas.REACHABILITY_EVENTS,
           "braze_users": schemas.BRAZE_USERS}


@pytest.mark.parametrize("stream", STREAMS)
def test_arrays_are_string_lists_or_json_arrays(stream: str) -> None:
    """An array of vendor objects has no `items`, so target-postgres makes it one `jsonb`
    column, not `jsonb[]` (slow to load, no JSON operators); lists of ids stay `text[]`."""
    for name, prop in STREAMS[stream]["properties"].items():
        if "array" not in prop["type"]:
            continue
        assert prop.get("items", {"type": "string"}) == {"type": "string"}, (stream, name)


def test_braze_object_arrays_are_json_arrays() -> None:
    properties = schemas.BRAZE_USERS["properties"]
    for name in ("devices", "apps", "purchases", "custom_events", "user_aliases",
                 "last_coordinates"):
        assert properties[name] == {"type": ["array", "null"]}, name
