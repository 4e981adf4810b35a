"""benchharness: measure what batch size, memory and pruning cost and save on a device."""

__version__ = "0.1.0"

# Version of the trial record and run.json layout; bump on a breaking change.
SCHEMA_VERSION = 6
