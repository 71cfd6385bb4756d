"""JSON schemas of the streams (CONTRACT.md section 5; APSIS definitions: README "APSIS
definitions and names").

Free-form vendor objects are declared as open objects with no properties, so the SDK keeps
them whole and does not walk them record by record.
"""

from __future__ import annotations

from typing import Any


def _nullable(*types: str) -> dict[str, Any]:
    return {"type": [*types, "null"]}


STRING = _nullable("string")
BOOLEAN = _nullable("boolean")
NUMBER = _nullable("number")
INTEGER = _nullable("integer")
DATETIME = {**_nullable("string"), "format": "date-time"}
OBJECT = {**_nullable("object"), "properties": {}, "additionalProperties": True}
STRING_ARRAY = {**_nullable("array"), "items": {"type": "string"}}
# Arrays of vendor objects: no `items` (JSON Schema: any item), so SQL targets keep each array
# as one JSON value (`jsonb` in target-postgres: JSON operators, GIN indexes) instead of a
# PostgreSQL array of JSON values (`jsonb[]`), whose per-element text escaping slows the load.
JSON_ARRAY = _nullable("array")


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    for key in required:
        properties[key] = {**properties[key], "type": [t for t in properties[key]["type"]
                                                        if t != "null"]}
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": True}


PROFILES = _schema({
    "source": STRING,
    "profile_id": STRING,
    "custom_id": STRING,
    "identifiers": OBJECT,
    "attributes": OBJECT,
    "tags": STRING_ARRAY,
    "sections": OBJECT,
    "exported_at": DATETIME,
}, ["source", "profile_id"])

EVENTS = _schema({
    "source": STRING,
    "event_id": STRING,
    "profile_id": STRING,
    "custom_id": STRING,
    "name": STRING,
    "timestamp": DATETIME,
    "created_at": DATETIME,
    "section_id": STRING,
    "correlation_id": STRING,
    "attributes": OBJECT,
    "data": OBJECT,
    "identifiers": OBJECT,
    "extra": OBJECT,
}, ["source", "event_id", "timestamp"])

REACHABILITY_EVENTS = _schema({
    "source": STRING,
    "event_id": STRING,
    "timestamp": DATETIME,
    "channel": STRING,
    "reasons": STRING_ARRAY,
    "has_phone_number": BOOLEAN,
    "has_email_address": BOOLEAN,
    "sms_marketing": STRING,
    "email_marketing": STRING,
    "is_optin": BOOLEAN,
    "platform": STRING,
    "profile_id": STRING,
    "custom_id": STRING,
    "installation_id": STRING,
    "identifiers": OBJECT,
    "extra": OBJECT,
}, ["event_id", "timestamp"])

BRAZE_USERS = _schema({
    "export_scope": STRING,
    "braze_id": STRING,
    "external_id": STRING,
    "user_aliases": JSON_ARRAY,
    "random_bucket": INTEGER,
    "created_at": DATETIME,
    "first_name": STRING,
    "last_name": STRING,
    "email": STRING,
    "dob": STRING,
    "home_city": STRING,
    "country": STRING,
    "phone": STRING,
    "language": STRING,
    "time_zone": STRING,
    "last_coordinates": JSON_ARRAY,
    "gender": STRING,
    "total_revenue": NUMBER,
    "attributed_campaign": STRING,
    "attributed_source": STRING,
    "attributed_adgroup": STRING,
    "attributed_ad": STRING,
    "push_subscribe": STRING,
    "email_subscribe": STRING,
    "push_opted_in_at": DATETIME,
    "custom_attributes": OBJECT,
    "custom_events": JSON_ARRAY,
    "purchases": JSON_ARRAY,
    "devices": JSON_ARRAY,
    "push_tokens": JSON_ARRAY,
    "apps": JSON_ARRAY,
    "campaigns_received": JSON_ARRAY,
    "canvases_received": JSON_ARRAY,
    "cards_clicked": JSON_ARRAY,
    "uninstalled_at": DATETIME,
    "extra": OBJECT,
    "exported_at": DATETIME,
}, ["export_scope", "braze_id"])

# APSIS definitions: the ids APSIS records carry (`section_id`, `profiles.attributes` keys,
# `events.name` = `typeId`) as keys, every vendor field (unknown ones in `extra`).
APSIS_SECTIONS = _schema({
    "section_id": STRING,
    "discriminator": STRING,
    "name": STRING,
    "extra": OBJECT,
}, ["section_id"])

APSIS_ATTRIBUTES = _schema({
    "section_id": STRING,
    "attribute_id": STRING,
    "discriminator": STRING,
    "name": STRING,
    "type": STRING,
    "version_id": STRING,
    "versions": JSON_ARRAY,
    "extra": OBJECT,
}, ["section_id", "attribute_id"])

APSIS_TAGS = _schema({
    "section_id": STRING,
    "tag_id": STRING,
    "discriminator": STRING,
    "name": STRING,
    "extra": OBJECT,
}, ["section_id", "tag_id"])

APSIS_EVENT_TYPES = _schema({
    "section_id": STRING,
    "event_type_id": STRING,
    "discriminator": STRING,
    "name": STRING,
    "description": STRING,
    "version_id": STRING,
    "fields": JSON_ARRAY,
    "versions": JSON_ARRAY,
    "extra": OBJECT,
}, ["section_id", "event_type_id"])
