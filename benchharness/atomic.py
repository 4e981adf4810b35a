"""Replace a JSON file whole or not at all: the one writer used by run.json and the FLOP-count cache.
No dependencies beyond the standard library, so a worker can import it cheaply."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomically(path: Path, data) -> None:
    """Replace ``path`` whole or not at all (write a temporary file, then rename): a process killed
    mid-write leaves the old file, or none, never half a document."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
