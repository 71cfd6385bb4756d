"""Run the tap's CLI with the toy vendor registered: `python -m tests.toy_vendor.launch …`."""

from __future__ import annotations

from tap_profile_export.settings import config_schema
from tap_profile_export.tap import TapProfileExport
from tap_profile_export.vendors import REGISTRY
from tests.toy_vendor import ENTRY

if __name__ == "__main__":
    REGISTRY["toy"] = ENTRY  # the one registry line (in-package vendors: the REGISTRY literal)
    # Registered after the schema was built at import: rebuild it (--about shows the block).
    TapProfileExport.config_jsonschema = config_schema()
    TapProfileExport.cli()
