"""A toy fourth vendor, to show (and test) that a vendor is one folder + one sandbox module +
one registry line. `settings.py`, `client.py`, `records.py`, `plan.py` mirror
`tap_profile_export/vendors/<name>/`; `emulator.py` is its sandbox module; `launch.py` adds the
registry line and runs the tap's CLI."""

from tap_profile_export.vendors import VendorEntry
from tests.toy_vendor import settings

#: Its registry entry: settings block, parser, `Vendor` class, streams fed.
ENTRY = VendorEntry(settings.BLOCK, settings.parse, "tests.toy_vendor.plan:ToyVendor",
                    streams=("profiles",))
