"""The singer-sdk standard tap tests, run in process against a live sandbox."""

from __future__ import annotations

import atexit
from datetime import timedelta

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox import Sandbox
from tap_profile_export.tap import TapProfileExport
from tap_profile_export.windows import to_rfc3339

_SANDBOX = Sandbox(seed=11)
_SANDBOX.__enter__()
atexit.register(_SANDBOX.__exit__, None, None, None)

_CONFIG = {k: v for k, v in _SANDBOX.tap_config().items() if k != "braze"}
_CONFIG["start_date"] = to_rfc3339(_SANDBOX.anchor - timedelta(days=20))
_CONFIG["end_date"] = to_rfc3339(_SANDBOX.anchor)

TestTapProfileExport = get_tap_test_class(
    tap_class=TapProfileExport,
    config=_CONFIG,
    suite_config=SuiteConfig(max_records_limit=100, ignore_no_records_for_streams=["braze_users"]),
)
