"""APSIS profile and definitions → records of CONTRACT.md section 5 (pure: no HTTP, no Singer)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any


def _ms_to_rfc3339(ms: float) -> str:
    value = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def map_profile(profile_key: str, profile: Mapping[str, Any], tag_ids: frozenset[str],
                exported_at: str) -> dict[str, Any]:
    """One `profiles` record: attributes (tags excluded), tags, per-section structure."""
    attributes: dict[str, Any] = {}
    tags: set[str] = set()
    sections: dict[str, Any] = {}
    for section_id, section in (profile.get("sections") or {}).items():
        section_attributes: dict[str, Any] = {}
        section_tags: list[str] = []
        for attribute_id, holder in (section.get("attributes") or {}).items():
            if attribute_id in tag_ids:
                section_tags.append(attribute_id)
                continue
            value = holder.get("value") if isinstance(holder, Mapping) else holder
            section_attributes[attribute_id] = value
        attributes.update(section_attributes)
        tags.update(section_tags)
        sections[section_id] = {"attributes": section_attributes, "tags": sorted(section_tags)}
    return {"source": "apsis", "profile_id": profile_key, "custom_id": None,
            "identifiers": None, "attributes": attributes, "tags": sorted(tags),
            "sections": sections, "exported_at": exported_at}


def event_id(profile_key: str, section_id: str, event: Mapping[str, Any]) -> str:
    """Stable digest of profile, section, type, correlation id and source time (+ createdAt
    when the source time is unknown)."""
    parts = [profile_key, section_id, str(event.get("typeId")), str(event.get("correlationId")),
             str(event.get("sourceEventTime") or 0)]
    if not event.get("sourceEventTime"):
        parts.append(str(event.get("createdAt")))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def map_events(profile_key: str, profile: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One `events` record per event of every section of the profile."""
    for section_id, section in (profile.get("sections") or {}).items():
        for event in section.get("events") or ():
            source_time = event.get("sourceEventTime") or 0
            created = event.get("createdAt")
            yield {"source": "apsis", "event_id": event_id(profile_key, section_id, event),
                   "profile_id": profile_key, "custom_id": None, "name": event.get("typeId"),
                   "timestamp": _ms_to_rfc3339(source_time or created),
                   "created_at": _ms_to_rfc3339(created) if created else None,
                   "section_id": section_id, "correlation_id": event.get("correlationId"),
                   "attributes": None, "data": event.get("data"), "identifiers": None,
                   "extra": None}


#: The id column of each definition stream (`apsis_<kind>`): the id export files use.
ID_COLUMNS = {"attributes": "attribute_id", "tags": "tag_id", "event_types": "event_type_id"}
#: Vendor fields each definition stream has a column for; any other field lands in `extra`.
DEFINITION_FIELDS = {
    "sections": ("discriminator", "name"),
    "attributes": ("discriminator", "name", "type", "versions"),
    "tags": ("discriminator", "name"),
    "event_types": ("discriminator", "name", "description", "versions", "fields"),
}


def current_version(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The version in use: the last one not deprecated (else the last one listed)."""
    versions = [v for v in item.get("versions") or () if isinstance(v, Mapping)]
    found = [v for v in versions if v.get("deprecated_at") is None] or versions
    return found[-1] if found else None


def _with_extra(kind: str, item: Mapping[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    known = DEFINITION_FIELDS[kind]
    record.update({key: item.get(key) for key in known})
    extra = {key: value for key, value in item.items() if key not in known}
    record["extra"] = extra or None
    return record


def section_record(item: Mapping[str, Any], section_id: str) -> dict[str, Any]:
    """One `apsis_sections` record."""
    return _with_extra("sections", item, {"section_id": section_id})


def definition_record(kind: str, section_id: str, item: Mapping[str, Any],
                      definition_id: str) -> dict[str, Any]:
    """One `apsis_attributes`, `apsis_tags` or `apsis_event_types` record: the section and
    the export id as keys, every vendor field, and for versioned kinds the current version's
    id (and, for event types, its data fields)."""
    record = _with_extra(kind, item, {"section_id": section_id,
                                      ID_COLUMNS[kind]: definition_id})
    version = current_version(item) or {}
    if "versions" in DEFINITION_FIELDS[kind]:
        version_id = version.get("id")
        record["version_id"] = None if version_id is None else str(version_id)
    if kind == "event_types":  # the data fields: of the type, else of its current version
        fields = item.get("fields") or version.get("fields")
        record["fields"] = fields if isinstance(fields, list) else None
    return record
