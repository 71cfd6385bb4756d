"""The fast root-level conformance gives exactly what the SDK's ROOT_ONLY level gives."""

from __future__ import annotations

import copy
import datetime
import logging

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_profile_export import schemas
from tap_profile_export.conform import RootConformer

RECORDS = [
    {"source": "batch", "event_id": "r1", "timestamp": "2025-01-01T00:00:00Z", "is_optin": 1,
     "has_phone_number": 0, "has_email_address": None, "reasons": ["A"], "identifiers": {"a": 1},
     "extra": {"nested": float("nan")}, "unknown_column": 3},
    {"source": "batch", "event_id": "r2", "timestamp": datetime.datetime(2025, 1, 2, 3, 4, 5,
                                                                           tzinfo=datetime.UTC),
     "is_optin": True, "has_phone_number": False, "platform": b"iOS"},
]
BRAZE = [{"export_scope": "ids", "braze_id": "b1", "total_revenue": float("inf"),
          "random_bucket": 5, "dob": datetime.date(1990, 1, 2), "custom_attributes": {"x": 1},
          "devices": [{"model": "x"}]}]


@pytest.mark.parametrize(("schema", "records"), [(schemas.REACHABILITY_EVENTS, RECORDS),
                                                 (schemas.BRAZE_USERS, BRAZE)])
def test_same_result_as_sdk_root_only(schema: dict, records: list[dict]) -> None:
    conformer = RootConformer(schema)
    for record in records:
        expected = conform_record_data_types(
            stream_name="s", record=copy.deepcopy(record), schema=schema,
            level=TypeConformanceLevel.ROOT_ONLY, logger=logging.getLogger("t"))
        got = conformer(copy.deepcopy(record))
        assert repr(got) == repr(expected)
