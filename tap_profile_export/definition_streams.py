"""Definition streams: what the ids in vendor records mean (APSIS sections, attributes, tags and
event types). Full table, read with synchronous paged GETs (no export), with the SDK's own record
handling. A listing that fails fails its stream only: the others and every export still run,
and the tap exits 1 at the end naming it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, cast

from tap_profile_export import schemas
from tap_profile_export.errors import SettingError, TapProfileExportError
from tap_profile_export.snapshots import SessionStream, partition_key
from tap_profile_export.vendors.base import DefinitionSource

LOGGER = logging.getLogger("tap_profile_export.streams")


class DefinitionStream(SessionStream):
    """A vendor's definitions of one kind, listed completely every run (snapshot)."""

    replication_key = None
    snapshot = True

    def get_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        """Every definition from each configured source (only APSIS today)."""
        for name in self.sources:
            vendor = self.session.vendors.get(name)
            if vendor is None:
                continue
            key = partition_key({"source": name})
            try:
                yield from cast(DefinitionSource, vendor).definition_records(self.name)
            except SettingError:
                raise
            except TapProfileExportError as exc:
                LOGGER.error("%s: %s", self.name, exc)
                self.session.read_failures.append(f"{self.name}: {exc}")
                self._failed.append(key)
                continue
            self._complete.add(key)


class ApsisSectionsStream(DefinitionStream):
    """`apsis_sections`: one record per APSIS section."""

    name = "apsis_sections"
    primary_keys: ClassVar[list[str]] = ["section_id"]
    schema = schemas.APSIS_SECTIONS


class ApsisAttributesStream(DefinitionStream):
    """`apsis_attributes`: one record per attribute per section."""

    name = "apsis_attributes"
    primary_keys: ClassVar[list[str]] = ["section_id", "attribute_id"]
    schema = schemas.APSIS_ATTRIBUTES


class ApsisTagsStream(DefinitionStream):
    """`apsis_tags`: one record per tag per section."""

    name = "apsis_tags"
    primary_keys: ClassVar[list[str]] = ["section_id", "tag_id"]
    schema = schemas.APSIS_TAGS


class ApsisEventTypesStream(DefinitionStream):
    """`apsis_event_types`: one record per event type per section (current version, its data
    fields, and every version)."""

    name = "apsis_event_types"
    primary_keys: ClassVar[list[str]] = ["section_id", "event_type_id"]
    schema = schemas.APSIS_EVENT_TYPES


DEFINITION_STREAMS: tuple[type[DefinitionStream], ...] = (
    ApsisSectionsStream, ApsisAttributesStream, ApsisTagsStream, ApsisEventTypesStream)
