"""The sandbox refuses what the real APIs refuse (CONTRACT.md), with each vendor's error shape.

Plain HTTP requests against a running sandbox; no tap code involved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from sandbox import Sandbox
from sandbox.batch import API_KEY as BATCH_KEY
from sandbox.batch import PROJECT_KEY
from sandbox.braze import API_KEY as BRAZE_KEY
from sandbox.data import parse_rfc3339, rfc3339
from sandbox.timeline import WORLD


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox(seed=5) as sandbox:
        yield sandbox


@pytest.fixture
def sb(running: Sandbox) -> Sandbox:
    running.reset()
    return running


def now() -> datetime:
    """The sandbox's clock (the simulated one every test shares), never the machine's."""
    return WORLD.now()


# -- Batch ----------------------------------------------------------------------------------

BATCH_HEADERS = {"Authorization": f"Bearer {BATCH_KEY}", "X-Batch-Project": PROJECT_KEY}


def batch(sb: Sandbox, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{sb.api_url}/2.4/profiles/export", json=body,
                         headers=BATCH_HEADERS if headers is None else headers, timeout=10)


def assert_batch_400(response: requests.Response, words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_message"}
    assert words in body["error_message"]


def events_body(start: datetime, end: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {"export_type": "EVENTS", "identifiers": ["custom_id"], "from": rfc3339(start),
            "to": rfc3339(end or now()), **extra}


def test_batch_accepts_a_valid_request(sb: Sandbox) -> None:
    assert batch(sb, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]}).status_code == 202
    assert batch(sb, {"export_type": "ATTRIBUTES", "attributes": ["$language"]}).status_code == 202
    assert batch(sb, events_body(now() - timedelta(days=89))).status_code == 202
    assert sb.refused() == []


@pytest.mark.parametrize("name", ["identifiers", "attributes"])
def test_batch_empty_attribute_arrays_are_refused(sb: Sandbox, name: str) -> None:
    body = {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"], "attributes": ["$language"]}
    body[name] = []
    assert_batch_400(batch(sb, body), "minItems")
    assert [r.status for r in sb.refused()] == [400]


def test_batch_empty_event_filter_is_refused(sb: Sandbox) -> None:
    assert_batch_400(batch(sb, events_body(now() - timedelta(days=3), events=[])), "minItems")
    body = events_body(now() - timedelta(days=3))
    body["identifiers"] = []
    assert_batch_400(batch(sb, body), "minItems")


def test_batch_neither_identifiers_nor_attributes_is_refused(sb: Sandbox) -> None:
    assert_batch_400(batch(sb, {"export_type": "ATTRIBUTES"}), "at least one")


def test_batch_unknown_parameters_are_refused(sb: Sandbox) -> None:
    assert_batch_400(batch(sb, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"],
                                "from": rfc3339(now())}), "unknown parameter")
    assert_batch_400(batch(sb, events_body(now() - timedelta(days=1),
                                           filter={"segment": "s"})), "unknown parameter")
    assert_batch_400(batch(sb, {"export_type": "SEGMENTS", "identifiers": ["custom_id"]}),
                     "export_type")


def test_batch_lookback_is_checked_at_request_time(sb: Sandbox) -> None:
    # Valid when planned a minute ago, 90 days minus 1 second now: a second later it is not.
    start = now() - timedelta(days=90) + timedelta(seconds=2)
    assert batch(sb, events_body(start)).status_code == 202
    time.sleep(2.5)
    assert_batch_400(batch(sb, events_body(start)), "lookback")
    assert_batch_400(batch(sb, {**events_body(start), "export_type": "REACHABILITY"}),
                     "lookback")


def test_batch_to_must_be_after_from(sb: Sandbox) -> None:
    start = now() - timedelta(days=2)
    assert_batch_400(batch(sb, events_body(start, start)), "to must be after from")
    assert_batch_400(batch(sb, events_body(start, start - timedelta(hours=1))),
                     "to must be after from")


def test_batch_reachability_floor() -> None:
    from sandbox.batch import _validate
    body = {"export_type": "REACHABILITY", "identifiers": ["custom_id"],
            "from": "2024-10-09T23:59:59Z", "to": "2024-10-20T00:00:00Z"}
    at = datetime(2024, 11, 1, tzinfo=timezone.utc)  # within the 90-day lookback
    assert "2024-10-10" in (_validate(body, at) or "")
    assert _validate({**body, "from": "2024-10-10T00:00:00Z"}, at) is None
    assert _validate({**body, "export_type": "EVENTS", "from": "2024-10-09T00:00:00Z"}, at) \
        is None


def test_batch_dates_must_be_rfc3339(sb: Sandbox) -> None:
    body = events_body(now() - timedelta(days=2))
    body["from"] = body["from"].rstrip("Z")  # no offset: not RFC 3339
    assert_batch_400(batch(sb, body), "RFC 3339")


@pytest.mark.parametrize("headers,status", [
    ({"Authorization": "Bearer rest_wrong", "X-Batch-Project": PROJECT_KEY}, 401),
    ({"X-Batch-Project": PROJECT_KEY}, 401),
    ({"Authorization": f"Bearer {BATCH_KEY}", "X-Batch-Project": "project_other"}, 403),
])
def test_batch_wrong_credentials(sb: Sandbox, headers: dict[str, str], status: int) -> None:
    response = batch(sb, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]}, headers)
    assert response.status_code == status
    assert set(response.json()) == {"error_code", "error_message"}
    view = requests.get(f"{sb.api_url}/2.4/exports/view", params={"id": "x"}, headers=headers,
                        timeout=10)
    assert view.status_code == status


# -- APSIS ----------------------------------------------------------------------------------


def apsis_token(sb: Sandbox) -> str:
    config = sb.apsis_sim.tap_config()
    answer = requests.post(f"{sb.api_url}/oauth/token", json={
        "grant_type": "client_credentials", "client_id": config["client_id"],
        "client_secret": config["client_secret"]}, timeout=10)
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


def apsis(sb: Sandbox, body: Any, token: str | None = None) -> requests.Response:
    return requests.post(f"{sb.api_url}/audience/profiles/exports", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {token or apsis_token(sb)}"})


def assert_apsis_error(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"title", "status", "detail"} and body["status"] == status
    assert words in body["detail"]


def apsis_events(start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    return {"attributes": ["attr.email"], "events": ["evt.order"], "start_at": rfc3339(start),
            "end_at": rfc3339(end), **extra}


def test_apsis_accepts_a_valid_request(sb: Sandbox) -> None:
    assert apsis(sb, {"tags": ["tag.vip"]}).status_code in (200, 201, 202)
    start = now() - timedelta(days=92)
    assert apsis(sb, apsis_events(start, start + timedelta(days=92))).status_code in (200, 201)
    assert sb.refused() == []


def test_apsis_window_over_three_months_is_refused(sb: Sandbox) -> None:
    start = now() - timedelta(days=100)
    assert_apsis_error(apsis(sb, apsis_events(start, start + timedelta(days=93))), 400,
                       "3 months")


def test_apsis_window_must_be_ordered_and_dated(sb: Sandbox) -> None:
    start = now() - timedelta(days=3)
    assert_apsis_error(apsis(sb, apsis_events(start, start)), 400, "after start_at")
    body = apsis_events(start, start + timedelta(days=1))
    del body["start_at"]
    assert_apsis_error(apsis(sb, body), 400, "start_at is required")


def test_apsis_attribute_and_tag_limits(sb: Sandbox) -> None:
    token = apsis_token(sb)
    assert_apsis_error(apsis(sb, {"attributes": [f"a{n}" for n in range(76)]}, token), 400,
                       "75 attributes")
    assert_apsis_error(apsis(sb, {"tags": [f"t{n}" for n in range(26)]}, token), 400, "25 tags")
    assert apsis(sb, {"attributes": [f"a{n}" for n in range(75)],
                      "tags": [f"t{n}" for n in range(25)]}, token).status_code == 201


def test_apsis_needs_an_attribute_or_a_tag(sb: Sandbox) -> None:
    token = apsis_token(sb)
    assert_apsis_error(apsis(sb, {"attributes": [], "tags": []}, token), 400, "at least one")
    start = now() - timedelta(days=3)
    assert_apsis_error(apsis(sb, {**apsis_events(start, now()), "attributes": []}, token), 400,
                       "at least one")


def test_apsis_unknown_fields_are_refused(sb: Sandbox) -> None:
    assert_apsis_error(apsis(sb, {"tags": ["tag.vip"], "topics": ["x"]}), 400, "unknown")


def test_apsis_wrong_credentials(sb: Sandbox) -> None:
    answer = requests.post(f"{sb.api_url}/oauth/token", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "wrong"}, timeout=10)
    assert_apsis_error(answer, 401, "credentials")
    assert_apsis_error(apsis(sb, {"tags": ["tag.vip"]}, token="not-a-token"), 401, "token")


def test_apsis_pending_export_limit_answers_429(sb: Sandbox) -> None:
    sb.apsis.max_pending = 2
    token = apsis_token(sb)
    assert apsis(sb, {"tags": ["tag.vip"]}, token).status_code == 201
    assert apsis(sb, {"tags": ["tag.vip"]}, token).status_code == 201
    assert_apsis_error(apsis(sb, {"tags": ["tag.vip"]}, token), 429, "pending")


def apsis_get(sb: Sandbox, path: str, token: str | None = None,
              **params: str) -> requests.Response:
    return requests.get(f"{sb.api_url}{path}", params=params, timeout=10,
                        headers={"Authorization": f"Bearer {token or apsis_token(sb)}"})


def apsis_listing(sb: Sandbox, path: str) -> list[dict[str, Any]]:
    """Every item of a definitions listing, following `links.next` like a client must."""
    token, url, found = apsis_token(sb), f"{sb.api_url}{path}", []
    while url:
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found += body["items"]
        url = f"{sb.api_url}{body['links']['next']}" if "links" in body else ""
    return found


def test_apsis_definitions_are_paged_listings(sb: Sandbox) -> None:
    sections = apsis_listing(sb, "/audience/sections")
    assert [s["discriminator"] for s in sections] == ["com.example.shop", "com.example.blog"]
    first = apsis_get(sb, "/audience/sections").json()
    assert len(first["items"]) == sb.apsis.definitions_page_size
    attributes = apsis_listing(sb, "/audience/sections/com.example.blog/attributes")
    assert len(attributes) == 5 and all(a["versions"][-1]["deprecated_at"] is None
                                        for a in attributes)
    assert [a["name"] for a in attributes].count("City") == 2
    events = apsis_listing(sb, "/audience/sections/com.example.shop/events")
    assert {e["discriminator"] for e in events} == {"evt.order", "evt.open", "evt.click"}
    assert len(apsis_listing(sb, "/audience/sections/com.example.shop/tags")) == 2
    sb.apsis.definitions_paging = "none"
    assert set(apsis_get(sb, "/audience/sections/com.example.blog/attributes").json()) == \
        {"items"}
    assert sb.refused() == []


def test_apsis_definitions_refuse_what_apsis_refuses(sb: Sandbox) -> None:
    token = apsis_token(sb)
    assert_apsis_error(apsis_get(sb, "/audience/sections", token="not-a-token"), 401, "token")
    assert_apsis_error(apsis_get(sb, "/audience/sections/nope/tags", token), 404, "'nope'")
    assert_apsis_error(apsis_get(sb, "/audience/sections", token, page="9"), 400, "page")
    assert_apsis_error(apsis_get(sb, "/audience/sections", token, limit="9"), 400, "limit")
    sb.apsis.forbidden_definitions = ["tags"]
    assert_apsis_error(apsis_get(sb, "/audience/sections/com.example.shop/tags", token), 403,
                       "tags")
    assert apsis_get(sb, "/audience/sections/com.example.shop/events", token).ok
    sb.apsis.forbidden_definitions = []
    sb.apsis.deleted_definitions = ["com.example.blog", "tag.vip"]
    assert [s["discriminator"] for s in apsis_listing(sb, "/audience/sections")] == \
        ["com.example.shop"]
    assert_apsis_error(apsis_get(sb, "/audience/sections/com.example.blog/tags", token), 404,
                       "not found")
    assert [t["discriminator"] for t in apsis_listing(
        sb, "/audience/sections/com.example.shop/tags")] == ["tag.newsletter"]


# -- Braze ----------------------------------------------------------------------------------

BRAZE_HEADERS = {"Authorization": f"Bearer {BRAZE_KEY}"}


def braze(sb: Sandbox, endpoint: str, body: Any,
          headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{sb.api_url}/users/export/{endpoint}", json=body, timeout=10,
                         headers=BRAZE_HEADERS if headers is None else headers)


def assert_braze_error(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "errors"} and isinstance(body["errors"], list)
    assert words in body["message"] + " ".join(body["errors"])


def test_braze_accepts_valid_requests(sb: Sandbox) -> None:
    assert braze(sb, "segment", {"segment_id": "seg-alpha", "fields_to_export": ["email"],
                                 "custom_attributes_to_export": ["tier"]}).status_code == 201
    assert braze(sb, "global_control_group", {"fields_to_export": ["email", "custom_attributes"],
                                              "output_format": "zip"}).status_code == 201
    assert braze(sb, "ids", {"external_ids": ["user-1"],
                             "fields_to_export": ["push_tokens"]}).status_code == 201
    assert sb.refused() == []


@pytest.mark.parametrize("endpoint,body,words", [
    ("global_control_group", {"fields_to_export": ["email"], "custom_attributes_to_export": ["a"]},
     "custom_attributes_to_export"),
    ("global_control_group", {"fields_to_export": ["email"], "segment_id": "seg-alpha"},
     "segment_id"),
    ("segment", {"segment_id": "seg-alpha", "fields_to_export": ["email"], "external_ids": []},
     "external_ids"),
    ("ids", {"external_ids": ["user-1"], "fields_to_export": ["email"], "output_format": "zip"},
     "output_format"),
    ("ids", {"external_ids": ["user-1"], "custom_attributes_to_export": ["a"]},
     "custom_attributes_to_export"),
])
def test_braze_unknown_parameters_are_refused(sb: Sandbox, endpoint: str, body: dict[str, Any],
                                              words: str) -> None:
    assert_braze_error(braze(sb, endpoint, body), 400, words)


@pytest.mark.parametrize("endpoint,field", [
    ("segment", "campaigns_received"), ("segment", "push_opted_in_at"),
    ("segment", "no_such_field"), ("ids", "cards_clicked"),
    ("global_control_group", "push_tokens"), ("global_control_group", "email_subscribe"),
])
def test_braze_unknown_fields_to_export_are_refused(sb: Sandbox, endpoint: str,
                                                    field: str) -> None:
    body: dict[str, Any] = {"fields_to_export": ["email", field]}
    if endpoint == "segment":
        body["segment_id"] = "seg-alpha"
    if endpoint == "ids":
        body["external_ids"] = ["user-1"]
    assert_braze_error(braze(sb, endpoint, body), 400, field)


def test_braze_fields_to_export_required_for_async_exports(sb: Sandbox) -> None:
    assert_braze_error(braze(sb, "segment", {"segment_id": "seg-alpha"}), 400, "fields_to_export")
    assert_braze_error(braze(sb, "global_control_group", {"fields_to_export": []}), 400,
                       "fields_to_export")
    assert_braze_error(braze(sb, "segment", {"fields_to_export": ["email"]}), 400, "segment_id")


def test_braze_ids_limit(sb: Sandbox) -> None:
    ids = [f"user-{n}" for n in range(51)]
    assert_braze_error(braze(sb, "ids", {"external_ids": ids, "fields_to_export": ["email"]}),
                       400, "max number")


def braze_ids(sb: Sandbox, **identifiers: Any) -> requests.Response:
    return braze(sb, "ids", {**identifiers, "fields_to_export": ["external_id"]})


@pytest.mark.parametrize("identifiers", [
    {"user_aliases": [{"alias_name": "alias-4", "alias_label": "crm"}]},
    {"braze_id": f"{0x5F0000000000 + 4:024x}"},
    {"device_id": "dev-4"},
    {"email_address": "user4@example.com"},
    {"phone": "+4790000004"},
    {"external_ids": ["user-4"], "user_aliases": [{"alias_name": "alias-4", "alias_label": "crm"}]},
])
def test_braze_ids_selectors_match_their_user(sb: Sandbox, identifiers: dict[str, Any]) -> None:
    answer = braze_ids(sb, **identifiers)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"message": "success", "users": [
        {"braze_id": f"{0x5F0000000000 + 4:024x}", "external_id": "user-4"}]}


@pytest.mark.parametrize("identifiers,invalid", [
    ({"email_address": "nobody@example.com"}, ["nobody@example.com"]),
    ({"phone": "+4790099999"}, ["+4790099999"]),  # user 99999 does not exist
    ({"braze_id": "5f00000000000000000000zz"}, ["5f00000000000000000000zz"]),
    ({"user_aliases": [{"alias_name": "alias-4", "alias_label": "other"}]}, ["alias-4"]),
    ({"device_id": "dev-7"}, ["dev-7"]),  # deleted
])
def test_braze_ids_unmatched_identifiers_are_listed(sb: Sandbox, identifiers: dict[str, Any],
                                                    invalid: list[str]) -> None:
    sb.braze.deleted = [7]
    answer = braze_ids(sb, **identifiers)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"message": "success", "users": [], "invalid_user_ids": invalid}


def test_braze_ids_phone_is_a_field_like_the_others(sb: Sandbox) -> None:
    with_phone = braze(sb, "ids", {"external_ids": ["user-4"], "fields_to_export": ["phone"]})
    without = braze(sb, "ids", {"external_ids": ["user-4"], "fields_to_export": ["email"]})
    assert with_phone.json()["users"][0]["phone"] == "+4790000004"
    assert "phone" not in without.json()["users"][0]


ALIAS = {"alias_name": "alias-1", "alias_label": "crm"}


@pytest.mark.parametrize("identifiers,words", [
    ({"external_ids": [f"user-{n}" for n in range(30)], "user_aliases": [ALIAS] * 21},
     "max number"),
    ({"user_aliases": [{"alias_name": "alias-1"}]}, "alias_label"),
    ({"user_aliases": [{"alias_name": "alias-1", "alias_label": 5}]}, "alias_label"),
    ({"user_aliases": ["alias-1"]}, "user alias objects"),
    ({"email_address": "user1@example.com", "phone": "+4790000001"}, "Only one identifier"),
    ({"braze_id": f"{0x5F0000000000 + 1:024x}", "device_id": "dev-1"}, "Only one identifier"),
    ({"email_address": "user1@example.com", "external_ids": ["user-1"]}, "Only one identifier"),
    ({"device_id": "dev-1", "user_aliases": [ALIAS]}, "Only one identifier"),
    ({"braze_id": 5}, "braze_id must be a string"),
    ({"email_address": ["user1@example.com"]}, "email_address must be a string"),
    ({"phone": "4790000001"}, "E.164"),
    ({"phone": "+0790000001"}, "E.164"),
    ({"phone": "+47 900 00 001"}, "E.164"),
    ({"external_ids": [1]}, "array of strings"),
    ({}, "No user identifier"),
])
def test_braze_ids_refuses_what_the_docs_rule_out(sb: Sandbox, identifiers: dict[str, Any],
                                                  words: str) -> None:
    assert_braze_error(braze_ids(sb, **identifiers), 400, words)


def test_braze_wrong_credentials(sb: Sandbox) -> None:
    assert_braze_error(braze(sb, "ids", {"external_ids": ["user-1"]},
                             {"Authorization": "Bearer wrong"}), 401, "Invalid API key")
    assert_braze_error(braze(sb, "global_control_group", {"fields_to_export": ["email"]}, {}),
                       401, "missing")


def test_braze_rate_limit_headers_on_every_answer(sb: Sandbox) -> None:
    sb.add_fault(vendor="braze", endpoint="create", status=500, times=1)
    answers = [
        braze(sb, "global_control_group", {"fields_to_export": ["email"]}),  # injected 500
        braze(sb, "global_control_group", {"fields_to_export": ["email"]}),  # 201
        braze(sb, "global_control_group", {"fields_to_export": ["nope"]}),   # 400
        braze(sb, "ids", {"external_ids": []}, {"Authorization": "Bearer x"}),  # 401
    ]
    assert [a.status_code for a in answers] == [500, 201, 400, 401]
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == "250000"
        assert int(answer.headers["X-RateLimit-Remaining"]) >= 0
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert time.time() + 3000 < reset <= time.time() + 3601  # epoch seconds, far away


def test_braze_429_carries_its_own_reset(sb: Sandbox) -> None:
    sb.braze.running_429_once = True
    body = {"segment_id": "seg-alpha", "fields_to_export": ["email"]}
    assert braze(sb, "segment", body).status_code == 201
    limited = braze(sb, "segment", body)
    assert_braze_error(limited, 429, "running")
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) <= time.time() + 2


# -- the request log ------------------------------------------------------------------------


def test_refused_lists_only_the_sandbox_own_400s(sb: Sandbox) -> None:
    sb.add_fault(vendor="batch", endpoint="create", status=400, times=1)
    assert batch(sb, {"export_type": "ATTRIBUTES", "identifiers": ["custom_id"]}).status_code == 400
    assert sb.refused() == []
    assert batch(sb, {"export_type": "ATTRIBUTES", "identifiers": []}).status_code == 400
    refused = sb.refused()
    assert [(r.path, r.status, r.injected) for r in refused] == [
        ("/2.4/profiles/export", 400, False)]


def test_strict_rfc3339_parser() -> None:
    assert parse_rfc3339("2025-01-02T03:04:05Z") == datetime(2025, 1, 2, 3, 4, 5,
                                                             tzinfo=timezone.utc)
    assert parse_rfc3339("2025-01-02T05:04:05.25+02:00") == datetime(
        2025, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)
    for bad in ("2025-01-02", "2025-01-02T03:04:05", "2025-01-02 03:04:05Z",
                "2025-1-2T03:04:05Z", "2025-01-02T03:04Z", "2025-13-02T03:04:05Z", "", None, 5):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


def test_refused_control_path(sb: Sandbox) -> None:
    assert batch(sb, {"export_type": "ATTRIBUTES", "identifiers": []}).status_code == 400
    refused = requests.get(f"{sb.api_url}/_sandbox/refused", timeout=10).json()
    assert [(r["path"], r["status"]) for r in refused] == [("/2.4/profiles/export", 400)]


def test_a_client_that_hangs_up_mid_body_gets_no_answer_and_is_not_a_refusal(
        sb: Sandbox) -> None:
    """A tap killed while sending a request sent nothing a vendor would refuse."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(sb.api_url)
    Sandbox.refusals.clear()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(b"POST /2.4/profiles/export HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"export")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1024) == b""  # closed without an answer
    assert not [r for s, r in Sandbox.refusals if s is sb]
    assert not [r for r in sb.requests() if r.path == "/2.4/profiles/export"]
