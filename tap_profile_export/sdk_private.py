"""The singer-sdk internals this tap uses, in one place (nothing else imports `singer_sdk.*._*`).

Why each is needed, and what to check when the SDK moves (checked against singer-sdk 0.54.9,
the version `pyproject.toml` pins with `~=`; a minor release may rename or change any of them):

- `helpers._typing._conform_primitive_property`, `_is_exclusive_boolean_type`: the SDK's own
  per-value conformance, reused by `conform.RootConformer` so ROOT_ONLY gives the SDK's results
  without its per-record walk.
- `helpers._typing.conform_record_data_types`: the SDK's RECURSIVE conformance, called by the
  streams' record path (which replaces the SDK's to skip its per-record selection walk).
- `helpers._util.utc_now`: the `time_extracted` the SDK stamps on RECORD messages.
- `helpers._batch.BatchConfig`, `BaseBatchFileEncoding`, `StorageTarget`: the `batch_config`
  the SDK parses and hands to `Stream.get_batches`, overridden to write JSONL batch files while
  records are read (through `StorageTarget.open`, the SDK's fsspec path).
"""

from __future__ import annotations

from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig, StorageTarget
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _is_exclusive_boolean_type,
    conform_record_data_types,
)
from singer_sdk.helpers._util import utc_now

__all__ = [
    "BaseBatchFileEncoding", "BatchConfig", "StorageTarget", "_conform_primitive_property",
    "_is_exclusive_boolean_type", "conform_record_data_types", "utc_now",
]
