"""The ids export's selectors: settings checks (setting and index named, value never shown),
requests of at most 50 pooled identifiers, the digest, unmatched counts, pacing."""

from __future__ import annotations

from typing import Any

import pytest

from tap_profile_export.errors import SettingError
from tap_profile_export.settings import parse_settings
from tap_profile_export.vendors.braze.ids import RequestPacer
from tap_profile_export.vendors.braze.selectors import IdsSelectors, parse_selectors

BRAZE = {"api_key": "k", "rest_endpoint": "https://rest.iad-01.braze.com"}
ALIAS = {"alias_name": "crm-77", "alias_label": "crm"}


@pytest.mark.parametrize("setting,value", [
    ("external_ids", ["u1"]), ("user_aliases", [ALIAS]), ("braze_ids", ["5f00"]),
    ("device_ids", ["dev-1"]), ("email_addresses", ["a@example.com"]),
    ("phones", ["+4790000001"]),
])
def test_any_selector_enables_the_ids_scope(setting: str, value: list[Any]) -> None:
    settings = parse_settings({"braze": {**BRAZE, setting: value}})
    assert settings.braze and settings.braze.ids
    assert getattr(settings.braze.ids, setting) == (
        (("crm-77", "crm"),) if setting == "user_aliases" else tuple(value))


def test_without_any_scope_the_error_lists_the_selectors() -> None:
    with pytest.raises(SettingError) as info:
        parse_settings({"braze": BRAZE})
    assert info.value.setting == "braze.segment_ids"
    assert "braze.user_aliases" in str(info.value) and "braze.phones" in str(info.value)


@pytest.mark.parametrize("phone", ["+12223334444", "+4790000000", "+123456789012345",
                                   "+12345678"])
def test_e164_phones_are_accepted(phone: str) -> None:
    assert parse_selectors({"phones": [phone]}).phones == (phone,)


@pytest.mark.parametrize("block,setting", [
    ({"phones": ["+4790000001", "4790000002"]}, "braze.phones[1]"),  # no +
    ({"phones": ["+0790000002"]}, "braze.phones[0]"),                  # first digit 0
    ({"phones": ["+1234567"]}, "braze.phones[0]"),                     # 7 digits
    ({"phones": ["+1234567890123456"]}, "braze.phones[0]"),            # 16 digits
    ({"phones": ["+47 900 00 002"]}, "braze.phones[0]"),
    ({"phones": [4790000002]}, "braze.phones[0]"),
    ({"email_addresses": ["a@example.com", ""]}, "braze.email_addresses[1]"),
    ({"braze_ids": [None]}, "braze.braze_ids[0]"),
    ({"device_ids": "dev-1"}, "braze.device_ids"),
    ({"external_ids": ["u1", 2]}, "braze.external_ids[1]"),
    ({"user_aliases": [ALIAS, {"alias_name": "secret-name"}]}, "braze.user_aliases[1]"),
    ({"user_aliases": [{"alias_name": "secret-name", "alias_label": ""}]},
     "braze.user_aliases[0]"),
    ({"user_aliases": [{**ALIAS, "external_id": "secret-name"}]}, "braze.user_aliases[0]"),
    ({"user_aliases": ["secret-name"]}, "braze.user_aliases[0]"),
    ({"user_aliases": {"alias_name": "secret-name"}}, "braze.user_aliases"),
])
def test_a_bad_entry_is_named_by_setting_and_index_not_by_value(block: dict[str, Any],
                                                                setting: str) -> None:
    with pytest.raises(SettingError) as info:
        parse_settings({"braze": {**BRAZE, **block}})
    assert info.value.setting == setting
    for value in ("4790000002", "secret-name", "dev-1"):
        assert value not in str(info.value)


def test_requests_pool_external_ids_and_aliases_then_one_per_single_selector() -> None:
    selectors = IdsSelectors(
        external_ids=tuple(f"u{n}" for n in range(40)),
        user_aliases=tuple((f"a{n}", "crm") for n in range(30)),
        braze_ids=("b1",), device_ids=("d1",), email_addresses=("e1", "e1", "e2"),
        phones=("+4790000001",))
    requests = selectors.requests()
    assert [r.label(n, len(requests)) for n, r in enumerate(requests, 1)] == [
        "ids request 1/7 (braze.external_ids[0-39], braze.user_aliases[0-9])",
        "ids request 2/7 (braze.user_aliases[10-29])",
        "ids request 3/7 (braze.braze_ids[0])",
        "ids request 4/7 (braze.device_ids[0])",
        "ids request 5/7 (braze.email_addresses[0])",
        "ids request 6/7 (braze.email_addresses[2])",  # the repeated e1 is asked for once
        "ids request 7/7 (braze.phones[0])",
    ]
    assert requests[0].body["external_ids"] == [f"u{n}" for n in range(40)]
    assert requests[0].body["user_aliases"][0] == {"alias_name": "a0", "alias_label": "crm"}
    assert len(requests[1].body["user_aliases"]) == 20
    assert [r.body for r in requests[2:]] == [
        {"braze_id": "b1"}, {"device_id": "d1"}, {"email_address": "e1"},
        {"email_address": "e2"}, {"phone": "+4790000001"}]


def test_the_digest_changes_with_any_list_and_holds_no_identifier() -> None:
    base = IdsSelectors(external_ids=("u1",), email_addresses=("a@example.com",))
    digest = base.digest("key")
    assert digest == IdsSelectors(external_ids=("u1",),
                                  email_addresses=("a@example.com",)).digest("key")
    others = [IdsSelectors(external_ids=("u1",), email_addresses=("b@example.com",)),
              IdsSelectors(external_ids=("u1",), phones=("a@example.com",)),
              IdsSelectors(external_ids=("u1",), email_addresses=("a@example.com",),
                           user_aliases=(("x", "crm"),))]
    assert digest not in {other.digest("key") for other in others}
    assert digest != base.digest("another key")  # keyed: a guess cannot be checked offline
    assert "u1" not in digest and "example" not in digest


def test_unmatched_counts_per_selector() -> None:
    selectors = IdsSelectors(external_ids=("u1", "u2"), user_aliases=(("a1", "crm"),),
                             email_addresses=("e1",))
    pooled, email = selectors.requests()
    assert pooled.unmatched({"users": [], "invalid_user_ids": ["u2", "a1"]}) == {
        "external_ids": 1, "user_aliases": 1}
    # What Braze lists for an alias is undocumented: an object counts as an alias too.
    assert pooled.unmatched({"invalid_user_ids": [{"alias_name": "a1", "alias_label": "crm"}]}
                            ) == {"user_aliases": 1}
    assert email.unmatched({"users": []}) == {"email_addresses": 1}
    assert email.unmatched({"users": [{"braze_id": "b"}, {"braze_id": "c"}]}) == {}


def test_mask_removes_the_request_identifiers() -> None:
    (request,) = IdsSelectors(phones=("+4790000001",)).requests()
    assert request.mask("bad phone +4790000001") == "bad phone ***"


def test_pacer_keeps_to_the_limit_in_any_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = RequestPacer(3, 60.0, clock=lambda: now[0], sleep=sleep)
    for at in (0.0, 1.0, 2.0, 3.0, 70.0):
        now[0] = max(now[0], at)
        pacer.wait()
    assert slept == [57.0]  # the 4th waited for the 1st to leave the window; the 5th did not
