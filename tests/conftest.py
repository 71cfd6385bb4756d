"""Suite-wide settings: Hypothesis profiles.

`make test` and CI use the derandomized `ci` profile: the same examples on every run, so a
submission never fails for a case it did not touch. `make fuzz` loads `fuzz` (fresh randomness,
a large budget) to look for new bugs on purpose; keep every case it finds as an `@example`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "fuzz", derandomize=False, max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
