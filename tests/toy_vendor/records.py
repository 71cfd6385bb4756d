"""Toy user → `profiles` record (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def map_profile(row: Mapping[str, Any], exported_at: str) -> dict[str, Any]:
    """One `profiles` record."""
    return {"source": "toy", "profile_id": str(row["id"]), "custom_id": None,
            "identifiers": None, "attributes": {"name": row.get("name")}, "tags": None,
            "sections": None, "exported_at": exported_at}
