"""Root-level conformance gives exactly what the SDK's ROOT_ONLY level gives, and the direct
record path's check (`recordpath.RootCheck`) lets a record through unconformed only when
that level would not change it."""

from __future__ import annotations

import copy
import datetime
import decimal
import logging
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_profile_export import schemas
from tap_profile_export.conform import RootConformer
from tap_profile_export.recordpath import RootCheck

RECORDS = [
    {"source": "batch", "event_id": "r1", "timestamp": "2025-01-01T00:00:00Z", "is_optin": 1,
     "has_phone_number": 0, "has_email_address": None, "reasons": ["A"], "identifiers": {"a": 1},
     "extra": {"nested": float("nan")}, "unknown_column": 3},
    {"source": "batch", "event_id": "r2", "timestamp": datetime.datetime(2025, 1, 2, 3, 4, 5,
                                                                           tzinfo=datetime.UTC),
     "is_optin": True, "has_phone_number": False, "platform": b"iOS"},
    # A float where the schema says boolean stays a float in the SDK (its float rule first).
    {"event_id": "r3", "is_optin": 1.5, "has_phone_number": float("nan"),
     "has_email_address": "yes", "unknown_float": float("inf")},
]
BRAZE = [{"export_scope": "ids", "braze_id": "b1", "total_revenue": float("inf"),
          "random_bucket": 5, "dob": datetime.date(1990, 1, 2), "custom_attributes": {"x": 1},
          "devices": [{"model": "x"}]},
         {"export_scope": "ids", "braze_id": "b2", "total_revenue": "12.50",
          "random_bucket": "7", "first_name": 42, "custom_attributes": None}]
CLOSED = {**schemas.REACHABILITY_EVENTS, "additionalProperties": False}
SCHEMAS = {"reachability_events": schemas.REACHABILITY_EVENTS, "braze_users": schemas.BRAZE_USERS,
           "events": schemas.EVENTS, "profiles": schemas.PROFILES, "closed": CLOSED}


def sdk_root_only(schema: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    return conform_record_data_types(
        stream_name="s", record=copy.deepcopy(record), schema=schema,
        level=TypeConformanceLevel.ROOT_ONLY, logger=logging.getLogger("t"))


@pytest.mark.parametrize(("schema", "records"), [(schemas.REACHABILITY_EVENTS, RECORDS),
                                                 (CLOSED, RECORDS),
                                                 (schemas.BRAZE_USERS, BRAZE)])
def test_same_result_as_sdk_root_only(schema: dict, records: list[dict]) -> None:
    conformer = RootConformer(schema)
    for record in records:
        assert repr(conformer(copy.deepcopy(record))) == repr(sdk_root_only(schema, record))


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8),
    st.binary(max_size=4), st.decimals(allow_nan=False), st.just(decimal.Decimal("NaN")),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, datetime.UTC])))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                   st.dictionaries(st.text(max_size=4), SCALARS, max_size=3))


@st.composite
def schema_and_record(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = SCHEMAS[draw(st.sampled_from(sorted(SCHEMAS)))]
    names = st.sampled_from([*schema["properties"], "unknown", "other"])
    return schema, draw(st.dictionaries(names, VALUES, max_size=8))


@given(schema_and_record())
@example((schemas.REACHABILITY_EVENTS, {"is_optin": 2.5, "has_phone_number": "0"}))
@example((CLOSED, {"unknown": float("nan"), "event_id": decimal.Decimal("NaN")}))
def test_root_conformer_is_the_sdk_root_only_level(case: tuple[dict, dict]) -> None:
    schema, record = case
    assert repr(RootConformer(schema)(copy.deepcopy(record))) == repr(
        sdk_root_only(schema, record))


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)


@st.composite
def schema_and_json_record(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = SCHEMAS[draw(st.sampled_from(sorted(SCHEMAS)))]
    names = st.sampled_from([*schema["properties"], "unknown"])
    return schema, draw(st.dictionaries(names, JSON_VALUES, max_size=8))


@given(schema_and_json_record())
@example((schemas.REACHABILITY_EVENTS, {"is_optin": 1}))
@example((schemas.REACHABILITY_EVENTS, {"is_optin": 0.5}))
@example((CLOSED, {"unknown": 1}))
def test_root_check_passes_only_what_root_only_leaves_alone(case: tuple[dict, dict]) -> None:
    """Records as JSON parsers give them (JSON-native values, finite floats): a record the
    check lets through unconformed is one the SDK's ROOT_ONLY level returns unchanged."""
    schema, record = case
    check = RootCheck(schema)
    got = check(copy.deepcopy(record)) if check.needed else copy.deepcopy(record)
    assert repr(got) == repr(sdk_root_only(schema, record))


def test_root_check_is_skipped_for_the_stock_open_schemas() -> None:
    assert not RootCheck(schemas.EVENTS).needed and not RootCheck(schemas.BRAZE_USERS).needed
    assert not RootCheck(schemas.PROFILES).needed
    assert RootCheck(schemas.REACHABILITY_EVENTS).booleans == (
        "has_phone_number", "has_email_address", "is_optin")
    assert RootCheck(CLOSED).needed
