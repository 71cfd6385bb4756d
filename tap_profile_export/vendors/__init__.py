"""The vendor registry: name → settings block, limits, pacing, streams fed.

A vendor is one folder, `vendors/<name>/`: `settings.py` (its settings block: schema, typed
view, `parse`), `client.py` (create / check / open / read against its API), `records.py`
(pure record mappers), `plan.py` (its `Vendor`: partitions and the exports each needs). The tap,
the streams and the coordinator learn everything else from the entry below; adding a vendor is
adding its folder and one line here (see README, "Adding a vendor").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_profile_export.checks import block_schema
from tap_profile_export.vendors.apsis import settings as apsis
from tap_profile_export.vendors.batch import settings as batch
from tap_profile_export.vendors.braze import settings as braze


@dataclass(frozen=True)
class VendorEntry:
    """What the rest of the tap knows about one vendor."""

    #: The settings block (a JSON-schema object property named after the vendor); the vendor
    #: is enabled when the block is configured.
    block: th.Property
    #: Checks the configured block and returns its typed view (raises SettingError).
    parse: Callable[[Mapping[str, Any]], Any]
    #: `module:Class` of its `Vendor`, imported only when the vendor is configured; called as
    #: `Class(block_settings, tap_settings, now)`.
    vendor: str
    #: Streams it can feed (as a partition each; definition streams, read by listing rather
    #: than by export, through its `definition_records`); in registry order within a stream.
    streams: tuple[str, ...]
    #: Kinds of export the vendor paces (created last, so they do not hold up the others).
    paced: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The vendor's name (its settings block)."""
        return self.block.name

    def load(self) -> Callable[..., Any]:
        """The vendor's `Vendor` class."""
        module, _, name = self.vendor.partition(":")
        return getattr(importlib.import_module(module), name)

    @staticmethod
    def limit(settings: Any) -> int:
        """Exports of this vendor created up front and awaited together."""
        return int(getattr(settings, "max_concurrent_exports", 1))

    def secrets(self, settings: Any) -> list[str]:
        """Values of the block's secret settings (masked in logs and errors)."""
        return list(_secret_values(block_schema(self.block), settings))


def _secret_values(schema: Mapping[str, Any], settings: Any) -> Iterator[str]:
    """Secret values of a typed settings view, nested blocks (`braze.storage`) included."""
    for key, prop in schema.get("properties", {}).items():
        value = getattr(settings, key, None)
        if prop.get("secret"):
            if isinstance(value, str) and value:
                yield value
        elif value is not None and "properties" in prop:
            yield from _secret_values(prop, value)


REGISTRY: dict[str, VendorEntry] = {
    "batch": VendorEntry(batch.BLOCK, batch.parse, f"{__name__}.batch.plan:BatchVendor",
                         streams=("profiles", "events", "reachability_events")),
    "apsis": VendorEntry(apsis.BLOCK, apsis.parse, f"{__name__}.apsis.plan:ApsisVendor",
                         streams=("profiles", "events", "apsis_sections", "apsis_attributes",
                                  "apsis_tags", "apsis_event_types"),
                         paced=frozenset({"events"})),
    "braze": VendorEntry(braze.BLOCK, braze.parse, f"{__name__}.braze.plan:BrazeVendor",
                         streams=("braze_users",)),
}


def sources(stream: str) -> tuple[str, ...]:
    """Vendors that can feed `stream`, in registry order."""
    return tuple(name for name, entry in REGISTRY.items() if stream in entry.streams)
