"""Batch line → record of CONTRACT.md section 5 (pure: no HTTP, no Singer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EVENT_KEYS = frozenset({"id", "name", "timestamp", "attributes"})
_REACH_KEYS = frozenset({"id", "channel", "export_type", "timestamp", "reasons",
                         "has_phone_number", "has_email_address", "sms_marketing",
                         "email_marketing", "is_optin", "platform"})


def _extra(event: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The event's fields without a column of their own (the common case, none, is tested
    with a subset check before: no dict built per event)."""
    return {k: v for k, v in event.items() if k not in known}


def _profile_id(identifiers: Mapping[str, Any]) -> str:
    profile_id = identifiers.get("profile_id") or identifiers.get("custom_id")
    if not profile_id:
        raise KeyError("identifiers.profile_id (and no custom_id)")
    return str(profile_id)


def map_profile(row: Mapping[str, Any], exported_at: str) -> dict[str, Any]:
    """Attributes line → `profiles` record."""
    identifiers = row.get("identifiers") or {}
    return {"source": "batch", "profile_id": _profile_id(identifiers),
            "custom_id": identifiers.get("custom_id"), "identifiers": identifiers,
            "attributes": row.get("attributes") or {}, "tags": None, "sections": None,
            "exported_at": exported_at}


def map_event(row: Mapping[str, Any], exported_at: str) -> dict[str, Any]:
    """Events line → `events` record."""
    identifiers = row.get("identifiers") or {}
    event = row["event"]
    extra = None if event.keys() <= _EVENT_KEYS else _extra(event, _EVENT_KEYS)
    return {"source": "batch", "event_id": str(event["id"]),
            "profile_id": identifiers.get("profile_id"), "custom_id": identifiers.get("custom_id"),
            "name": event.get("name"), "timestamp": event["timestamp"], "created_at": None,
            "section_id": None, "correlation_id": None, "attributes": event.get("attributes"),
            "data": None, "identifiers": identifiers, "extra": extra}


def map_reachability(row: Mapping[str, Any], exported_at: str) -> dict[str, Any]:
    """Reachability line → `reachability_events` record (`channel` or `export_type` key)."""
    identifiers = row.get("identifiers") or {}
    event = row["event"]
    extra = None if event.keys() <= _REACH_KEYS else _extra(event, _REACH_KEYS)
    return {"source": "batch", "event_id": str(event["id"]), "timestamp": event["timestamp"],
            "channel": event.get("channel") or event.get("export_type"),
            "reasons": event.get("reasons"), "has_phone_number": event.get("has_phone_number"),
            "has_email_address": event.get("has_email_address"),
            "sms_marketing": event.get("sms_marketing"),
            "email_marketing": event.get("email_marketing"), "is_optin": event.get("is_optin"),
            "platform": event.get("platform"), "profile_id": identifiers.get("profile_id"),
            "custom_id": identifiers.get("custom_id"),
            "installation_id": identifiers.get("installation_id"), "identifiers": identifiers,
            "extra": extra}


MAPPERS = {"profiles": map_profile, "events": map_event, "reachability_events": map_reachability}
