"""Braze ids export end to end: every selector, shared requests of at most 50, unmatched
identifiers counted (never printed), E.164 checked before any request, resume and restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox

from .conftest import TapRun, partition_state, run_tap
from .test_braze import api_posts, braze_config

IDS = "/users/export/ids"


def braze_id(n: int) -> str:
    return f"{0x5F0000000000 + n:024x}"


def alias(n: int) -> dict[str, str]:
    return {"alias_name": f"alias-{n}", "alias_label": "crm"}


#: Each selector setting: how it names user n, one identifier no user has, and its noun.
SELECTORS: dict[str, tuple[Any, Any, str]] = {
    "external_ids": (lambda n: f"user-{n}", "no-such-user", "external id(s)"),
    "user_aliases": (alias, {"alias_name": "no-such-alias", "alias_label": "crm"}, "alias(es)"),
    "braze_ids": (braze_id, "5f000000000000000000dead", "Braze id(s)"),
    "device_ids": (lambda n: f"dev-{n}", "dev-no-such-device", "device id(s)"),
    "email_addresses": (lambda n: f"user{n}@example.com", "nobody@example.com",
                        "email address(es)"),
    "phones": (lambda n: f"+{4790000000 + n}", "+4791234567", "phone number(s)"),
}
BODY_KEY = {"external_ids": "external_ids", "user_aliases": "user_aliases",
            "braze_ids": "braze_id", "device_ids": "device_id",
            "email_addresses": "email_address", "phones": "phone"}


def ids_config(sb: Sandbox, tmp_path: Path, **selectors: Any) -> dict[str, Any]:
    """Only the ids scope, with exactly these selectors."""
    return braze_config(sb, tmp_path, **{"segment_ids": [], "global_control_group": False,
                                         "external_ids": [], **selectors})


def ids_requests(sb: Sandbox, since: int = 0) -> list[dict[str, Any]]:
    """Bodies of the ids requests the sandbox answered 2xx, without fields_to_export."""
    return [{k: v for k, v in r.json.items() if k != "fields_to_export"}
            for r in api_posts(sb, IDS)[since:] if r.status < 300]


def assert_not_leaked(run: TapRun, *values: Any) -> None:
    """No identifier in the logs or in any STATE message."""
    states = json.dumps(run.states)
    for value in values:
        text = value["alias_name"] if isinstance(value, dict) else value
        assert text not in run.stderr, f"{text!r} was logged"
        assert text not in states, f"{text!r} is in state"


@pytest.mark.parametrize("setting", list(SELECTORS))
def test_each_selector_end_to_end(sandbox: Sandbox, tmp_path: Path, setting: str) -> None:
    name, unknown, noun = SELECTORS[setting]
    values = [name(3), name(11), unknown]
    run = run_tap(tmp_path, ids_config(sandbox, tmp_path, **{setting: values}))
    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records("braze_users")
    assert sorted(r["braze_id"] for r in records) == [braze_id(3), braze_id(11)]
    assert {r["export_scope"] for r in records} == {"ids"}
    assert records[0]["phone"] == "+4790000003" and records[0]["email"] == "user3@example.com"
    key = BODY_KEY[setting]
    sent = ids_requests(sandbox)
    if setting in ("external_ids", "user_aliases"):
        assert sent == [{key: values}]
    else:
        assert sent == [{key: value} for value in values]
    assert f"Braze matched no user for 1 {noun}" in run.stderr
    assert_not_leaked(run, unknown)


def test_aliases_and_external_ids_share_requests_of_at_most_50(sandbox: Sandbox,
                                                               tmp_path: Path) -> None:
    external = [f"user-{n}" for n in range(40)] + ["no-such-user"]
    aliases = [alias(n) for n in range(40, 70)] + [alias(999)]
    config = ids_config(sandbox, tmp_path, external_ids=external, user_aliases=aliases,
                        email_addresses=["user70@example.com", "nobody@example.com"],
                        phones=["+4790000071"])
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    sent = ids_requests(sandbox)
    assert [len(b.get("external_ids", [])) + len(b.get("user_aliases", [])) for b in sent] \
        == [50, 22, 0, 0, 0]
    assert [i for b in sent for i in b.get("external_ids", [])] == external
    assert [a for b in sent for a in b.get("user_aliases", [])] == aliases
    assert sent[2:] == [{"email_address": "user70@example.com"},
                        {"email_address": "nobody@example.com"}, {"phone": "+4790000071"}]
    got = [r["braze_id"] for r in run.records("braze_users")]
    assert sorted(got) == sorted(braze_id(n) for n in range(72)), "every user exactly once"
    assert "Braze matched no user for 1 external id(s), 1 alias(es), 1 email address(es)\n" \
        in run.stderr
    assert_not_leaked(run, "no-such-user", "alias-999", "nobody@example.com")


def test_a_user_matched_by_two_selectors_is_emitted_once(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    run = run_tap(tmp_path, ids_config(sandbox, tmp_path, external_ids=["user-5", "user-5"],
                                       email_addresses=["user5@example.com"],
                                       device_ids=["dev-6"]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(r["braze_id"] for r in run.records("braze_users")) == [braze_id(5),
                                                                          braze_id(6)]
    assert ids_requests(sandbox) == [{"external_ids": ["user-5"]}, {"device_id": "dev-6"},
                                     {"email_address": "user5@example.com"}]
    assert "matched no user" not in run.stderr


@pytest.mark.parametrize("bad", ["4790000004", "+0790000004", "+47 900 00 004", "+4712",
                                 4790000004])
def test_a_phone_not_in_e164_stops_the_tap_before_any_request(sandbox: Sandbox,
                                                              tmp_path: Path,
                                                              bad: Any) -> None:
    config = braze_config(sandbox, tmp_path, phones=["+4790000003", bad])
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "braze.phones[1]" in run.stderr and "E.164" in run.stderr
    assert str(bad) not in run.stderr and str(bad) not in run.stdout
    assert sandbox.requests() == []


@pytest.mark.parametrize("selectors,setting", [
    ({"email_addresses": "secret@example.com"}, "braze.email_addresses"),
    ({"user_aliases": [{"alias_name": "secret@example.com", "alias_label": 7}]},
     "braze.user_aliases[0]"),
])
def test_a_selector_of_the_wrong_type_is_named_without_its_value(
        sandbox: Sandbox, tmp_path: Path, selectors: dict[str, Any], setting: str) -> None:
    run = run_tap(tmp_path, braze_config(sandbox, tmp_path, **selectors))
    assert run.returncode != 0
    assert f"setting '{setting}'" in run.stderr
    assert "secret" not in run.stderr and sandbox.requests() == []


def test_a_vendor_error_quoting_an_identifier_is_masked(sandbox: Sandbox,
                                                       tmp_path: Path) -> None:
    sandbox.add_fault(vendor="braze", endpoint="ids", status=400, times=1, body={
        "message": "Invalid email_address user3@example.com", "errors": ["user3@example.com"]})
    run = run_tap(tmp_path, ids_config(sandbox, tmp_path,
                                       email_addresses=["user3@example.com"]))
    assert run.returncode != 0
    assert "ids request 1/1 (braze.email_addresses[0]): HTTP 400" in run.stderr
    assert "Invalid email_address ***" in run.stderr
    assert_not_leaked(run, "user3@example.com")


# -- resume ------------------------------------------------------------------------------------

RESUME = {"external_ids": [f"user-{n}" for n in range(60)],
          "email_addresses": ["user60@example.com", "user61@example.com", "nobody@example.com"],
          "phones": ["+4790000062", "+4790000063"]}  # 2 + 5 = 7 requests


def interrupted(sandbox: Sandbox, tmp_path: Path) -> TapRun:
    """A run stopped by an outage after 3 of its 7 requests."""
    sandbox.braze.ids_outage_after = 3
    run = run_tap(tmp_path, ids_config(sandbox, tmp_path, **RESUME))
    assert run.returncode != 0
    sandbox.braze.ids_outage_after = None
    export = partition_state(run.last_state, "braze_users", export_scope="ids")["exports"]
    assert [entry["parts_done"] for entry in export.values()] == [
        ["request-1", "request-2", "request-3"]]
    assert_not_leaked(run, *RESUME["external_ids"], *RESUME["email_addresses"],
                      *RESUME["phones"])
    return run


def test_a_resumed_run_requests_only_what_is_left(sandbox: Sandbox, tmp_path: Path) -> None:
    first = interrupted(sandbox, tmp_path)
    done = len(api_posts(sandbox, IDS))
    resumed = run_tap(tmp_path, ids_config(sandbox, tmp_path, **RESUME),
                      state=first.last_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming export" in resumed.stderr
    assert "skipping ids request 3/7 (braze.email_addresses[0]), already read" in resumed.stderr
    assert ids_requests(sandbox, since=done) == [
        {"email_address": "user61@example.com"}, {"email_address": "nobody@example.com"},
        {"phone": "+4790000062"}, {"phone": "+4790000063"}]
    got = [r["braze_id"] for r in first.records("braze_users") + resumed.records("braze_users")]
    assert sorted(got) == sorted(braze_id(n) for n in range(64))
    assert "Braze matched no user for 1 email address(es)" in resumed.stderr
    assert not partition_state(resumed.last_state, "braze_users",
                               export_scope="ids").get("exports")


def test_a_changed_selector_list_starts_over(sandbox: Sandbox, tmp_path: Path) -> None:
    first = interrupted(sandbox, tmp_path)
    done = len(api_posts(sandbox, IDS))
    changed = {**RESUME, "phones": [*RESUME["phones"], "+4790000064"]}
    run = run_tap(tmp_path, ids_config(sandbox, tmp_path, **changed), state=first.last_state)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "selectors changed since it was started; starting over" in run.stderr
    assert len(ids_requests(sandbox, since=done)) == 8
    assert len(run.records("braze_users")) == 65
