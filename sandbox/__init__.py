"""Local emulator of the Batch.com, APSIS One and Braze export APIs (tests, demo, benchmarks)."""

from sandbox.core import Fault, RecordedRequest, Sandbox

__all__ = ["Fault", "RecordedRequest", "Sandbox"]
