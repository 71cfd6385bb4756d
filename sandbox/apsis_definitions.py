"""APSIS One definitions emulation: sections, and per section its attributes, tags and event
types — paged listings with the export's bearer token (CONTRACT.md §3 "Definitions",
docs/research/apsis-definitions.md). Strict: unknown query parameters and pages out of range
answer 400, a bad token 401, a kind the key may not read 403, an unknown section 404, each in
APSIS's `{"title", "status", "detail"}` shape."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sandbox.core import Request, Response, Route

if TYPE_CHECKING:
    from sandbox.apsis import ApsisSim

#: section discriminator → name (the sections every export file holds, in this order)
SECTION_NAMES = {"com.example.shop": "Shop", "com.example.blog": "Blog"}
#: attribute discriminator → (name, data type), in every section
ATTRIBUTE_DEFS = {"attr.email": ("Email", "string"), "attr.first_name": ("First name", "string"),
                  "attr.points": ("Points", "integer"), "attr.city": ("City", "string")}
#: blog-only attributes: a second "City", so that name is ambiguous
BLOG_ATTRIBUTE_DEFS = {"attr.blog_city": ("City", "string")}
TAG_DEFS = {"tag.vip": "VIP", "tag.newsletter": "Newsletter"}
EVENT_DEFS = {"evt.order": "Order placed", "evt.open": "Email opened", "evt.click": "Link clicked"}
#: the data fields of every event the export serves (`data` of sandbox.apsis events)
EVENT_FIELDS = ({"name": "n", "type": "integer"}, {"name": "k", "type": "integer"},
                {"name": "amount", "type": "double"})
KINDS = ("attributes", "tags", "events")
PAGING = ("links", "next_page_url", "none")


def _number(*parts: str) -> int:
    """A stable small integer id (version ids are numbers at APSIS)."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=3).digest()
    return int.from_bytes(digest, "big")


def section_item(discriminator: str) -> dict[str, Any]:
    """One section as "Get sections" lists it."""
    return {"id": hashlib.blake2b(discriminator.encode(), digest_size=8).hexdigest(),
            "discriminator": discriminator, "name": SECTION_NAMES[discriminator]}


def items(kind: str, section: str) -> list[dict[str, Any]]:
    """Every definition of `kind` in `section`, deleted ones included."""
    if kind == "attributes":
        defs = {**ATTRIBUTE_DEFS, **(BLOG_ATTRIBUTE_DEFS if section == "com.example.blog"
                                     else {})}
        return [{"discriminator": d, "name": name, "type": data_type,
                 "versions": [{"id": _number(section, d), "deprecated_at": None}],
                 "access": {"read": True, "write": d != "attr.points"}}
                for d, (name, data_type) in defs.items()]
    if kind == "tags":
        return [{"discriminator": d, "name": name} for d, name in TAG_DEFS.items()]
    found = []
    for d, name in EVENT_DEFS.items():
        current: dict[str, Any] = {"id": _number(section, d, "2"), "deprecated_at": None,
                   "fields": [dict(f) for f in EVENT_FIELDS]}
        versions = [current]
        if d == "evt.order":  # an older version without `amount`
            versions.insert(0, {"id": _number(section, d, "1"),
                                "deprecated_at": "2025-01-01T00:00:00Z",
                                "fields": [dict(f) for f in EVENT_FIELDS[:2]]})
        found.append({"discriminator": d, "name": name, "description": "", "versions": versions})
    return found


class DefinitionRoutes:
    """The four listings of one APSIS emulation (its scenario, its tokens)."""

    def __init__(self, sim: ApsisSim) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        """`GET /audience/sections` and `GET /audience/sections/<section>/<kind>`."""
        found = [Route("api", "GET", "/audience/sections", "apsis", "sections",
                       self._sections)]
        for kind in KINDS:
            found.append(Route("api", "GET", "/audience/sections/", "apsis", kind,
                               self._listing, prefix=True, suffix=f"/{kind}"))
        return found

    def sections(self) -> list[str]:
        """Section discriminators still defined."""
        deleted = set(self.sim.scenario.deleted_definitions)
        return [s for s in SECTION_NAMES if s not in deleted]

    def listing(self, kind: str, section: str) -> list[dict[str, Any]]:
        """Definitions of `kind` in `section` still defined."""
        deleted = set(self.sim.scenario.deleted_definitions)
        return [item for item in items(kind, section) if item["discriminator"] not in deleted]

    def _sections(self, request: Request) -> Response:
        denied = self._denied(request, "sections")
        if denied:
            return denied
        return self._page(request, [section_item(s) for s in self.sections()])

    def _listing(self, request: Request) -> Response:
        section, _, kind = request.path.removeprefix("/audience/sections/").rpartition("/")
        denied = self._denied(request, kind)
        if denied:
            return denied
        section = unquote(section)
        if section not in self.sections():
            return _error(404, "Not Found", f"section '{section}' not found")
        return self._page(request, self.listing(kind, section))

    def _denied(self, request: Request, kind: str) -> Response | None:
        denied = self.sim.auth_error(request)
        if denied:
            return denied
        if kind in self.sim.scenario.forbidden_definitions:
            return _error(403, "Forbidden", f"the API key may not read {kind}")
        return None

    def _page(self, request: Request, found: list[dict[str, Any]]) -> Response:
        s = self.sim.scenario
        unknown = sorted(set(request.query) - {"page"})
        if unknown:
            return _error(400, "Bad Request", f"unknown query parameter(s): {', '.join(unknown)}")
        if s.definitions_paging == "none":
            return Response.json(200, {"items": found})
        size = max(1, s.definitions_page_size)
        last = max(1, -(-len(found) // size))
        raw = request.query.get("page", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= last:
            return _error(400, "Bad Request", f"page must be 1 to {last}, got {raw!r}")
        page = int(raw)
        body: dict[str, Any] = {"items": found[(page - 1) * size: page * size]}
        if page < last:
            following = f"{request.path}?page={page + 1}"
            if s.definitions_paging == "next_page_url":
                body["next_page_url"] = f"{self.sim.sandbox.api_url}{following}"
            else:
                body["links"] = {"next": following}
        return Response.json(200, body)


def _error(status: int, title: str, detail: str) -> Response:
    """APSIS's error shape."""
    return Response.json(status, {"title": title, "status": status, "detail": detail})
