"""APSIS definitions end to end: the four definition streams (paged listings, table versions),
names in `apsis.attributes` / `tags` / `events`, and a failing listing that fails only its
stream — real CLI, real sandbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.apsis_definitions import items, section_item
from tap_profile_export.windows import to_rfc3339

from .conftest import TapRun, partition_state, run_tap

CREATE = "/audience/profiles/exports"
STREAMS = {"apsis_attributes": ("attributes", "attribute_id"),
           "apsis_tags": ("tags", "tag_id"),
           "apsis_event_types": ("events", "event_type_id")}
DEFINITIONS = ("apsis_sections", *STREAMS)
BY_NAME = {"attributes": ["Email", "First name", "attr.points"], "tags": ["VIP", "Newsletter"],
           "events": ["Order placed", "Email opened", "evt.click"]}


def config_for(sb: Sandbox, vendors: tuple[str, ...] = ("apsis",), **apsis: Any
               ) -> dict[str, Any]:
    config = {k: v for k, v in sb.tap_config().items()
              if k not in {"batch", "apsis", "braze"} - set(vendors)}
    config["start_date"] = to_rfc3339(sb.anchor - timedelta(days=10))
    config["end_date"] = to_rfc3339(sb.anchor)
    config["apsis"].update(apsis)
    return config


def catalogue(sb: Sandbox, kind: str) -> set[tuple[str, str]]:
    """(section, id) of every definition the sandbox still serves."""
    return {(s, i["discriminator"]) for s in sb.apsis_sim.definitions.sections()
            for i in sb.apsis_sim.definitions.listing(kind, s)}


def keys(run: TapRun, stream: str) -> list[tuple[str, str]]:
    column = STREAMS[stream][1]
    return [(r["section_id"], r[column]) for r in run.records(stream)]


def activations(run: TapRun) -> dict[str, int]:
    return {m["stream"]: m["version"] for m in run.messages
            if m.get("type") == "ACTIVATE_VERSION"}


def export_bodies(sb: Sandbox) -> list[str]:
    return sorted(json.dumps(r.json, sort_keys=True) for r in sb.requests()
                  if r.method == "POST" and r.path == CREATE)


def test_the_four_streams_hold_every_definition(sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    sections = run.records("apsis_sections")
    assert sections == [{"section_id": s, "discriminator": s, "name": item["name"],
                         "extra": {"id": item["id"]}}
                        for s, item in ((s, section_item(s))
                                        for s in ("com.example.shop", "com.example.blog"))]
    for stream, (kind, _) in STREAMS.items():
        found = keys(run, stream)
        assert len(found) == len(set(found)), f"{stream}: a key emitted twice"
        assert set(found) == catalogue(sandbox, kind), stream
    # Every vendor field kept; the current version's id and (event types) data fields beside.
    [points] = [r for r in run.records("apsis_attributes")
                if r["section_id"] == "com.example.shop" and r["attribute_id"] == "attr.points"]
    [vendor] = [i for i in items("attributes", "com.example.shop")
                if i["discriminator"] == "attr.points"]
    assert points["name"] == "Points" and points["type"] == "integer"
    assert points["versions"] == vendor["versions"] and points["extra"] == {
        "access": vendor["access"]}
    assert points["version_id"] == str(vendor["versions"][-1]["id"])
    [order] = [r for r in run.records("apsis_event_types")
               if r["section_id"] == "com.example.blog" and r["event_type_id"] == "evt.order"]
    assert [v["deprecated_at"] is None for v in order["versions"]] == [False, True]
    assert order["version_id"] == str(order["versions"][1]["id"])
    assert [f["name"] for f in order["fields"]] == ["n", "k", "amount"]
    # Paged (2 items a page), each page read once although names and streams both use them,
    # with the exports' token (one token request for the whole run).
    listings = Counter((r.path, r.query.get("page", "1")) for r in sandbox.requests()
                       if r.path.startswith("/audience/sections"))
    assert listings[("/audience/sections/com.example.blog/attributes", "3")] == 1
    assert set(listings.values()) == {1}
    assert sum(1 for r in sandbox.requests() if r.path == "/oauth/token") == 1


@pytest.mark.parametrize("paging", ["next_page_url", "none"])
def test_other_paging_styles_read_the_same(sandbox: Sandbox, tmp_path: Path,
                                           paging: str) -> None:
    sandbox.apsis.definitions_paging = paging
    run = run_tap(tmp_path, config_for(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream, (kind, _) in STREAMS.items():
        assert set(keys(run, stream)) == catalogue(sandbox, kind)
    pages = {r.query.get("page") for r in sandbox.requests() if "/audience/sections" in r.path}
    assert pages == ({None} if paging == "none" else {None, "2", "3"})


def test_a_definition_deleted_at_the_vendor_is_marked_by_the_next_snapshot(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = config_for(sandbox, tags=["VIP"])  # a configured tag deleted: see the next test
    config["activate_version"] = "all_sources"
    before = run_tap(tmp_path, config)
    sandbox.apsis.deleted_definitions = ["attr.city", "tag.newsletter"]
    after = run_tap(tmp_path, config)
    assert before.returncode == after.returncode == 0, after.stderr[-3000:]
    gone = {stream: set(keys(before, stream)) - set(keys(after, stream)) for stream in STREAMS}
    assert gone == {"apsis_attributes": {(s, "attr.city") for s in ("com.example.shop",
                                                                     "com.example.blog")},
                    "apsis_tags": {(s, "tag.newsletter") for s in ("com.example.shop",
                                                                    "com.example.blog")},
                    "apsis_event_types": set()}
    first, second = activations(before), activations(after)
    assert set(first) >= set(DEFINITIONS) and set(second) >= set(DEFINITIONS)
    for stream in DEFINITIONS:  # a newer table version, activated after its last record
        assert second[stream] > first[stream]
        indexes = [i for i, m in enumerate(after.messages) if m.get("stream") == stream]
        assert after.messages[indexes[-1]]["type"] == "ACTIVATE_VERSION"
        assert {m.get("version") for m in after.messages
                if m.get("stream") == stream and m["type"] == "RECORD"} == {second[stream]}


def test_names_make_exactly_the_export_requests_ids_make(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    by_id = run_tap(tmp_path, config_for(sandbox, ("batch", "apsis")))
    assert by_id.returncode == 0, by_id.stderr[-3000:]
    bodies = export_bodies(sandbox)
    assert len(bodies) >= 3  # the profiles export and the event windows

    sandbox.reset()
    names = {**BY_NAME, "attributes": [*BY_NAME["attributes"], "attr.email"]}  # a repeat
    by_name = run_tap(tmp_path, config_for(sandbox, ("batch", "apsis"), **names))
    assert by_name.returncode == 0, by_name.stderr[-3000:]
    assert export_bodies(sandbox) == bodies
    assert "apsis.attributes: 'First name' is the attribute attr.first_name" in by_name.stderr
    # Tags are still told apart from attributes in the file (by their resolved ids).
    tagged = {r["profile_id"]: r["tags"] for r in by_id.records("profiles")}
    assert {r["profile_id"]: r["tags"] for r in by_name.records("profiles")} == tagged
    assert any(tagged.values())


@pytest.mark.parametrize(("setting", "values", "words"), [
    ("tags", ["tag.vip", "tag.gone"], ["'tag.gone' is neither the id nor the name of an APSIS "
                                       "tag (deleted at APSIS?)"]),
    ("attributes", ["Email", "Emial"], ["'Emial' is neither the id nor the name of an APSIS "
                                        "attribute", "closest: 'Email' (attr.email)"]),
    ("attributes", ["City"], ["attribute name 'City' is ambiguous", "attr.blog_city (section "
                              "com.example.blog)", "attr.city (section com.example.blog, "
                              "com.example.shop)"]),
    ("events", ["Order placd"], ["APSIS event type", "closest: 'Order placed' (evt.order)"]),
])
def test_an_unknown_or_ambiguous_name_stops_the_run_before_any_export(
        sandbox: Sandbox, tmp_path: Path, setting: str, values: list[str],
        words: list[str]) -> None:
    run = run_tap(tmp_path, config_for(sandbox, ("batch", "apsis"), **{setting: values}))
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if f"setting 'apsis.{setting}'" in line]
    for phrase in words:
        assert phrase in error
    assert [r for r in sandbox.requests() if r.method == "POST" and r.path != "/oauth/token"] \
        == []  # no export of any vendor was created
    assert not [m for m in run.messages if m.get("type") == "RECORD"]


def test_a_name_and_the_id_of_one_definition_count_once(sandbox: Sandbox,
                                                        tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sandbox, tags=["VIP", "tag.vip", "Newsletter",
                                                      "tag.newsletter"]))
    assert run.returncode == 0, run.stderr[-3000:]
    [body] = [r.json for r in sandbox.requests() if r.path == CREATE and not r.json.get("events")]
    assert body["tags"] == ["tag.vip", "tag.newsletter"]


@pytest.mark.parametrize(("fault", "stream", "status"), [
    ({"endpoint": "tags", "status": 500, "times": 1000}, "apsis_tags", "HTTP 500 after"),
    ({"forbidden": ["events"]}, "apsis_event_types", "HTTP 403: Forbidden"),
])
def test_a_failing_listing_fails_its_stream_only(sandbox: Sandbox, tmp_path: Path,
                                                 fault: dict[str, Any], stream: str,
                                                 status: str) -> None:
    if "forbidden" in fault:
        sandbox.apsis.forbidden_definitions = fault["forbidden"]
    else:
        sandbox.add_fault("apsis", fault["endpoint"], status=fault["status"],
                          times=fault["times"])
    config = config_for(sandbox, ("batch", "apsis"))
    config["activate_version"] = "all_sources"
    run = run_tap(tmp_path, config)
    assert run.returncode == 1
    [summary] = [line for line in run.stderr.splitlines()
                 if "1 definition stream(s) failed" in line]
    assert "everything else was read and checkpointed" in summary
    assert f"{stream}: apsis list " in summary and status in summary
    assert "export(s) failed" not in summary
    # The exports ran (ids sent as configured) and were read; the other listings loaded.
    assert {r["source"] for r in run.records("profiles")} == {"batch", "apsis"}
    assert {r["source"] for r in run.records("events")} == {"batch", "apsis"}
    assert partition_state(run.last_state, "events", source="apsis")["replication_key_value"] \
        == config["end_date"]
    for other in set(DEFINITIONS) - {stream}:
        assert run.records(other), other
    assert not run.records(stream)
    assert set(activations(run)) == (set(DEFINITIONS) - {stream}) | {"profiles"}
    assert f"{stream}: no ACTIVATE_VERSION this run" in run.stderr


def test_a_refused_token_is_refreshed_once_for_a_listing(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    sandbox.add_fault("apsis", "attributes", status=401, times=1,
                      body={"title": "Unauthorized", "status": 401, "detail": "expired token"})
    run = run_tap(tmp_path, config_for(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(keys(run, "apsis_attributes")) == catalogue(sandbox, "attributes")
    assert sum(1 for r in sandbox.requests() if r.path == "/oauth/token") == 2
    assert "access token refused (HTTP 401); requesting a new one" in run.stderr


def test_a_section_gone_between_two_listings_has_no_definitions(sandbox: Sandbox,
                                                                tmp_path: Path) -> None:
    sandbox.add_fault("apsis", "tags", status=404, times=1,
                      body={"title": "Not Found", "status": 404, "detail": "section not found"})
    run = run_tap(tmp_path, config_for(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(keys(run, "apsis_tags")) == {k for k in catalogue(sandbox, "tags")
                                            if k[0] == "com.example.blog"}
    assert ("apsis list tags of section com.example.shop: HTTP 404, the section no longer "
            "exists") in run.stderr
