"""APSIS definitions without HTTP: next-page links, record mapping, names → ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from tap_profile_export.errors import SettingError, VendorHTTPError
from tap_profile_export.vendors.apsis.definitions import Definition, next_link
from tap_profile_export.vendors.apsis.names import resolve, resolve_settings
from tap_profile_export.vendors.apsis.records import current_version, definition_record
from tap_profile_export.vendors.apsis.settings import parse

KNOWN = [Definition("attr.email", "Email", "s1"), Definition("attr.email", "Email", "s2"),
         Definition("attr.city", "City", "s1"), Definition("attr.town", "City", "s2"),
         Definition("attr.nameless", None, "s1")]


@pytest.mark.parametrize(("body", "link"), [
    ({"items": [], "links": {"next": "/x?page=2"}}, "/x?page=2"),
    ({"items": [], "links": {"next": {"href": "https://h/x?p=2"}}}, "https://h/x?p=2"),
    ({"items": [], "next": "/x?cursor=a"}, "/x?cursor=a"),
    ({"items": [], "next_page_url": "https://h/x?page=3"}, "https://h/x?page=3"),
    ({"items": [], "links": {"next": None}, "next": ""}, None),
    ({"items": []}, None),
    ([{"discriminator": "a"}], None),
])
def test_next_link(body: object, link: str | None) -> None:
    assert next_link(body) == link


def test_current_version_is_the_last_live_one() -> None:
    versions = [{"id": 1, "deprecated_at": "2025-01-01"}, {"id": 2, "deprecated_at": None},
                {"id": 3, "deprecated_at": "2025-02-01"}]
    assert current_version({"versions": versions}) == versions[1]
    assert current_version({"versions": versions[::2]}) == versions[2]  # all deprecated
    assert current_version({}) is None


def test_definition_record_keeps_every_vendor_field() -> None:
    item = {"discriminator": "evt.x", "name": "X", "description": "", "colour": "red",
            "versions": [{"id": 7, "deprecated_at": None, "fields": [{"name": "f"}]}]}
    record = definition_record("event_types", "s1", item, "evt.x")
    assert record == {"section_id": "s1", "event_type_id": "evt.x", "discriminator": "evt.x",
                      "name": "X", "description": "", "versions": item["versions"],
                      "fields": [{"name": "f"}], "version_id": "7", "extra": {"colour": "red"}}
    tag = definition_record("tags", "s1", {"discriminator": "t", "name": "T"}, "t")
    assert tag == {"section_id": "s1", "tag_id": "t", "discriminator": "t", "name": "T",
                   "extra": None}


def test_ids_stay_names_resolve_and_repeats_collapse() -> None:
    assert resolve("apsis.attributes", ["attr.city", "Email", "attr.email", "attr.nameless"],
                   KNOWN) == ("attr.city", "attr.email", "attr.nameless")


def test_an_ambiguous_name_lists_every_id_it_names() -> None:
    with pytest.raises(SettingError) as caught:
        resolve("apsis.attributes", ["City"], KNOWN)
    assert str(caught.value) == ("setting 'apsis.attributes': the attribute name 'City' is "
                                 "ambiguous: it names attr.city (section s1), attr.town "
                                 "(section s2); give the id instead")


@pytest.mark.parametrize(("value", "closest"), [
    ("Emali", "closest: 'Email' (attr.email)"),
    ("email", "closest: 'Email' (attr.email)"),
    ("attr.cty", "closest: 'attr.city'"),
    ("zzzzzzzz", "no close match among 4 defined"),
])
def test_an_unknown_value_names_its_closest_matches(value: str, closest: str) -> None:
    with pytest.raises(SettingError) as caught:
        resolve("apsis.tags", [value], KNOWN)
    assert caught.value.setting == "apsis.tags"
    assert f"{value!r} is neither the id nor the name of an APSIS tag" in str(caught.value)
    assert closest in str(caught.value)


def settings(**block: object) -> object:
    return parse({"client_id": "c", "client_secret": "s", "attributes": ["Email"], **block})


def test_limits_apply_to_the_resolved_ids() -> None:
    tags = [Definition(f"tag.{n}", f"Tag {n}", "s1") for n in range(26)]

    def catalogue(kind: str) -> Sequence[Definition]:
        return KNOWN if kind == "attributes" else tags

    resolved = resolve_settings(settings(tags=[f"Tag {n}" for n in range(25)]), catalogue)
    assert resolved.tags == tuple(f"tag.{n}" for n in range(25))
    assert resolved.attributes == ("attr.email",)
    too_many = replace(resolved, tags=(*(f"Tag {n}" for n in range(25)), "tag.25"))
    with pytest.raises(SettingError, match=r"'apsis\.tags': at most 25 allowed, got 26"):
        resolve_settings(too_many, catalogue)


def test_unreadable_definitions_send_the_values_as_they_are() -> None:
    def catalogue(kind: str) -> Sequence[Definition]:
        raise VendorHTTPError("apsis list tags of section s1: HTTP 500", status=500)

    given = settings(attributes=["attr.email", "attr.email"], tags=["VIP"], events=["E"])
    resolved = resolve_settings(given, catalogue)
    assert (resolved.attributes, resolved.tags, resolved.events) == (("attr.email",), ("VIP",),
                                                                     ("E",))
