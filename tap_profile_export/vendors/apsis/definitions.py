"""APSIS One definitions: sections, and per section its attributes, tags and event types.

Synchronous paged GETs through the exports' `HttpClient`: the same OAuth token, its refresh on
401 and the token-request rate limit. Every path and every vendor field name the tap relies on
is here and nowhere else; docs/research/apsis-definitions.md says which are documented (D) and
which inferred (I). Listings are read once per run and cached (also a failure), so resolving
names and the definition streams share one read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

from tap_profile_export.errors import TapProfileExportError
from tap_profile_export.http import HttpClient
from tap_profile_export.redact import safe_url
from tap_profile_export.vendors.apsis.records import ID_COLUMNS, definition_record, section_record

LOGGER = logging.getLogger("tap_profile_export.apsis")

#: The endpoints (D: attributes, event types; vendor client code: sections, tags).
#: `{section}` is the section discriminator, URL-quoted.
PATHS = {
    "sections": "/audience/sections",
    "attributes": "/audience/sections/{section}/attributes",
    "tags": "/audience/sections/{section}/tags",
    "event_types": "/audience/sections/{section}/events",
}
#: Kinds listed per section, each feeding the stream `apsis_<kind>`.
SECTION_KINDS = ("attributes", "tags", "event_types")
#: The item field holding the id export files and export requests use (I: the discriminator).
EXPORT_ID = "discriminator"
#: The item field a section's sub-listings are addressed by (D: the discriminator).
SECTION_PATH_ID = "discriminator"
#: Where a page may link the next one, first present wins (I: paging is undocumented).
NEXT_LINKS = (("links", "next"), ("next",), ("next_page_url",))
MAX_PAGES = 10_000


@dataclass(frozen=True)
class Definition:
    """One definition as configuration names it: its export id, its name, its section."""

    id: str
    name: str | None
    section: str


class ApsisDefinitions:
    """The account's definitions, read on first use and kept for the run."""

    def __init__(self, api_url: str, http: HttpClient) -> None:
        self.api_url = api_url
        self.http = http
        self._cache: dict[tuple[str, str], list[Mapping[str, Any]] | TapProfileExportError] = {}

    def sections(self) -> list[Mapping[str, Any]]:
        """Every section ("Get sections")."""
        return self._listing("sections", "")

    def listing(self, kind: str, section: str) -> list[Mapping[str, Any]]:
        """Every definition of `kind` in `section` (a section gone meanwhile has none)."""
        return self._listing(kind, section)

    def records(self, kind: str) -> Iterator[dict[str, Any]]:
        """Records of the stream `apsis_<kind>`, section by section."""
        for section in self.sections():
            section_id = _field(section, EXPORT_ID, "section")
            if kind == "sections":
                yield section_record(section, section_id)
                continue
            for item in self.listing(kind, _field(section, SECTION_PATH_ID, "section")):
                yield definition_record(kind, section_id, item,
                                        _field(item, EXPORT_ID, kind.replace("_", " ")))

    def catalogue(self, kind: str) -> list[Definition]:
        """Every definition of `kind` across sections, as names resolve against them."""
        return [Definition(record[ID_COLUMNS[kind]], record.get("name"),
                           record["section_id"]) for record in self.records(kind)]

    def _listing(self, kind: str, section: str) -> list[Mapping[str, Any]]:
        key = (kind, section)
        cached = self._cache.get(key)
        if isinstance(cached, TapProfileExportError):
            raise cached
        if cached is None:
            try:
                cached = list(self._pages(kind, section))
            except TapProfileExportError as exc:
                self._cache[key] = exc
                raise
            self._cache[key] = cached
        return cached

    def _pages(self, kind: str, section: str) -> Iterator[Mapping[str, Any]]:
        what = f"list {kind.replace('_', ' ')}" + (f" of section {section}" if section else "")
        url = self.api_url + PATHS[kind].format(section=quote(section, safe=""))
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= MAX_PAGES:
                raise TapProfileExportError(f"apsis {what}: the pages link back to "
                                            f"{safe_url(url)} (a paging loop)")
            seen.add(url)
            response = self.http.request("GET", url, what=what, accept=(404,) if section else ())
            if response.status_code == 404:
                LOGGER.warning("apsis %s: HTTP 404, the section no longer exists (deleted "
                               "since it was listed?); it has no %s", what, kind)
                return
            try:
                body = response.json()
            except ValueError:
                raise TapProfileExportError(f"apsis {what}: the answer is not JSON") from None
            items = body.get("items") if isinstance(body, Mapping) else body
            if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
                raise TapProfileExportError(f"apsis {what}: the answer has no list of items "
                                            f"(expected {{\"items\": [...]}})")
            yield from items
            link = next_link(body)
            url = urljoin(url, link) if link else ""


def next_link(body: Any) -> str | None:
    """The next page's URL or path a listing answer links, if any."""
    if not isinstance(body, Mapping):
        return None
    for path in NEXT_LINKS:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping):
            value = value.get("href")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _field(item: Mapping[str, Any], key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
        raise TapProfileExportError(f"apsis definitions: a {what} has no {key} "
                                    f"(fields: {', '.join(sorted(map(str, item))) or 'none'})")
    return str(value)
