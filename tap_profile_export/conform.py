"""Root-level type conformance equivalent to the SDK's `ROOT_ONLY` level, without its
per-value function calls: values that are already JSON-native pass after one type check."""

from __future__ import annotations

import math
from typing import Any

from tap_profile_export.sdk_private import _conform_primitive_property, _is_exclusive_boolean_type

_NATIVE = frozenset({str, int, bool, dict, list, type(None)})
_NATIVE_OR_FLOAT = _NATIVE | {float}


class RootConformer:
    """Conforms the top-level values of records of one schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.properties: dict[str, Any] = schema.get("properties", {})
        self.booleans = frozenset(name for name, prop in self.properties.items()
                                  if _is_exclusive_boolean_type(prop))
        self.keep_unknown = bool(schema.get("additionalProperties"))

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """Return `record` (changed in place) as the SDK's ROOT_ONLY level would."""
        if (set(map(type, record.values())) <= _NATIVE_OR_FLOAT
                and all(type(record.get(name)) in (bool, type(None)) for name in self.booleans)
                and all(math.isfinite(v) for v in record.values() if type(v) is float)
                and (self.keep_unknown or record.keys() <= self.properties.keys())):
            return record  # the common case: values parsed from JSON need nothing
        return self._conform(record)

    def _conform(self, record: dict[str, Any]) -> dict[str, Any]:
        booleans, native, properties = self.booleans, _NATIVE, self.properties
        for name, value in record.items():
            if name not in properties:
                continue  # kept as it is (or dropped below): the SDK conforms no unknown key
            kind = type(value)
            if kind is float:  # before the boolean rule, as in the SDK: a float stays a float
                if math.isnan(value) or math.isinf(value):
                    record[name] = None
            elif kind in native:
                if name in booleans and kind is not bool and value is not None:
                    record[name] = value != 0
            else:  # datetimes, bytes, Decimals, subclasses: the SDK's own rules
                record[name] = _conform_primitive_property(value, properties[name])
        if not self.keep_unknown:
            for name in [n for n in record if n not in properties]:
                del record[name]
        return record
