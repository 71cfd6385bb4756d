"""The singer-sdk internals this tap uses, in one place (nothing else imports `singer_sdk.*._*`).

Why each is needed, and what to check when the SDK moves (checked against singer-sdk 0.54.9,
the version `pyproject.toml` pins with `~=`; a minor release may rename or change any of them):

- `helpers._typing._conform_primitive_property`, `_is_exclusive_boolean_type`: the SDK's own
  per-value conformance, reused by `conform.RootConformer` so ROOT_ONLY gives the SDK's results
  without its per-record walk.
- `helpers._typing.conform_record_data_types`: the SDK's RECURSIVE conformance, called by the
  streams' record path (which replaces the SDK's to skip its per-record selection walk).
- `helpers._util.utc_now`: the `time_extracted` the SDK stamps on RECORD messages.
- `helpers._catalog.pop_deselected_record_properties`: the SDK's recursive removal of
  deselected properties, for catalogs that deselect a property below the top level.

`recordpath.FastRecordPath` also replays `Stream._sync_records` of 0.54.9 around its own
per-record loop, through these private `Stream` members: `_get_state_partition_context`,
`_write_starting_replication_value`, `_finalize_state`, `_write_state_message`,
`_check_max_record_limit`, `state_manager.is_flushed`, `_stream_version`, `_tap`; when the SDK
moves, compare that loop with the new `_sync_records` (tests/e2e/test_record_path.py compares
the output of both paths message by message).
- `helpers._batch.BatchConfig`, `BaseBatchFileEncoding`, `StorageTarget`: the `batch_config`
  the SDK parses and hands to `Stream.get_batches`, overridden to write JSONL batch files while
  records are read (through `StorageTarget.open`, the SDK's fsspec path).
"""

from __future__ import annotations

from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig, StorageTarget
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _is_exclusive_boolean_type,
    conform_record_data_types,
)
from singer_sdk.helpers._util import utc_now

__all__ = [
    "BaseBatchFileEncoding", "BatchConfig", "StorageTarget", "_conform_primitive_property",
    "_is_exclusive_boolean_type", "conform_record_data_types",
    "pop_deselected_record_properties", "utc_now",
]
